# 100,000 distinct recipients on the command line: as many as Linux's
# 2 MiB for argv and the environment allows (100,000 pointers take 800 KB).
print('-C @CONF@ ' + ' '.join('%05d@x.org' % i for i in range(100000)))
