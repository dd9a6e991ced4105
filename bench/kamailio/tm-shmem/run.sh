#!/bin/bash
# Kamailio 5.6 tm: shared memory per transaction. Holds N transactions open (INVITE: the UAS
# answers 180 and nothing more; MESSAGE: no answer) and reads core.shmmem real_used before and
# after. usage: bench/kamailio/tm-shmem/run.sh inv|msg N  (ports 15960, 15970, 15980)
set -u
cd "$(dirname "$0")"
KIND=$1; N=$2
RUN=$(mktemp -d); rm -f /tmp/viaduct-tm-shmem-ctl.sock
kamailio -f tm.cfg -DD -E -Y $RUN -m 256 -M 32 -x tlsf -X tlsf > $RUN/kamailio.log 2>&1 &
KPID=$!
sleep 3
shm() { kamcmd -s unix:/tmp/viaduct-tm-shmem-ctl.sock core.shmmem | awk '/real_used:/ {print $2}'; }
stats() { kamcmd -s unix:/tmp/viaduct-tm-shmem-ctl.sock tm.stats | tr '\n' ' '; }
kamcmd -s unix:/tmp/viaduct-tm-shmem-ctl.sock core.shmmem
B=$(shm); echo "before used=$B"
if [ $KIND = inv ]; then UAS=uas-180.xml; UAC=uac-inv.xml; else UAS=uas-sink.xml; UAC=uac-msg.xml; fi
P1=$(sipp -sf $UAS -i 127.0.0.1 -p 15970 -bg -m $N 2>&1 | grep -o "PID=\[[0-9]*" | tr -dc 0-9)
sleep 1
P2=$(sipp -sf $UAC -i 127.0.0.1 -p 15980 127.0.0.1:15960 -r 500 -m $N -l $N -bg 2>&1 | grep -o "PID=\[[0-9]*" | tr -dc 0-9)
echo "sipp pids $P1 $P2"
sleep $(( N / 500 + 4 ))
A=$(shm); echo "after used=$A"; stats; echo
echo "per transaction: $(( (A - B) / N )) bytes ($N held)"
kill $P1 $P2
kill $KPID; wait $KPID 2>/dev/null; rm -rf $RUN
