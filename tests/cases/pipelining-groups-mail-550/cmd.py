# 150 recipients and a MAIL refused: the first group (MAIL and 99 RCPTs)
# is answered before the rest would go, so the other 51 RCPTs and DATA
# are never sent.
print('-C @CONF@ ' + ' '.join('r%03d@example.net' % i for i in range(150)))
