print('* connect')
print('EHLO client.example')
print('MAIL FROM:<sender@example.org>')
for i in range(99):
    print('RCPT TO:<r%03d@example.net>' % i)
print('QUIT')
print('* close')
