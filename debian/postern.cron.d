# postern: deliver the queue every 5 minutes as the runner user postern
# (postern(8), "Running the queue").  Under systemd, postern-queue.timer
# does it and this line does nothing, so that exactly one of them runs;
# nor does it run while nothing is queued.
SHELL=/bin/sh
PATH=/usr/sbin:/usr/bin:/sbin:/bin
*/5 * * * * postern [ -d /run/systemd/system ] || [ -z "$(ls -A /var/spool/postern)" ] || /usr/sbin/postern -q
