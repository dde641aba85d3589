# 250 recipients: three pipelined groups of at most 100 commands (MAIL and
# 99 RCPTs; 100 RCPTs; 51 RCPTs and DATA), each group's replies read
# before the next is written (RFC 2920 3.1: no deadlock).
print('-v -C @CONF@ ' + ' '.join('r%03d@example.net' % i for i in range(250)))
