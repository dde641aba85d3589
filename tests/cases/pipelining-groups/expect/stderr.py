# The -v transcript shows the groups: commands, then their replies.
rcpts = ['r%03d@example.net' % i for i in range(250)]
cmds = ['MAIL FROM:<sender@example.org>'] + \
    ['RCPT TO:<%s>' % r for r in rcpts] + ['DATA']
replies = ['250 2.1.0 Ok'] + ['250 2.1.5 Ok'] * 250 + \
    ['354 End data with <CR><LF>.<CR><LF>']
print('-- connected to 127.0.0.1:@PORT@')
print('<- 220 localhost ESMTP postern-test')
print('-> EHLO client.example')
print('<- 250-localhost')
print('<- 250-PIPELINING')
print('<- 250 8BITMIME')
for g in range(0, len(cmds), 100):
    for c in cmds[g:g + 100]:
        print('-> ' + c)
    for r in replies[g:g + 100]:
        print('<- ' + r)
print('-- sending the message: 158 bytes')
print('-> .')
print('-> QUIT')
print('<- 250 2.0.0 Ok: queued as TEST1')
