#!/bin/sh
# The binary of the installed e2e image: a shell script on a busybox base.
echo "installed rules_img says: $(cat /etc/app/greeting.txt)"
