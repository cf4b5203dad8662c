# Guest stage of the lab, run by the initramfs /init under busybox sh with the host root mounted
# read-only on /host. Makes /host a usable root (the guest's /dev, /sys, /proc; tmpfs on /tmp, /run and
# /var/lib/cni; hugepages), chroots into it to run the command from the env file named by `lab.env=` on
# the kernel command line, prints `RESULT=<exit code>` on the console and powers off.
# The env file (written by boot.sh) defines LAB_RUN (command to run in the chroot), LAB_KEEP (host
# paths under /tmp or /run that must stay visible) and any LAB_* variables the command reads.

result() {
  echo "RESULT=$1"
  sync
  poweroff -f
}

env_file=
for arg in $(cat /proc/cmdline); do
  case "$arg" in lab.env=*) env_file=${arg#lab.env=} ;; esac
done
[ -f "/host$env_file" ] || { echo "lab guest: no env file (lab.env=$env_file)"; result 125; }
. "/host$env_file"

# A second view of the host root without the tmpfs mounts below, to re-expose kept paths.
mkdir -p /mnt/host
mount --bind /host /mnt/host
for dir in /tmp /run /var/lib/cni; do
  mount -t tmpfs -o mode=0755 tmpfs "/host$dir" || result 125
done
chmod 1777 /host/tmp
for path in $LAB_KEEP; do
  case "$path" in
    /tmp/* | /run/* | /var/lib/cni/*)
      mkdir -p "/host$path"
      mount --bind "/mnt/host$path" "/host$path" || result 125
      ;;
  esac
done

ln -s /proc/self/fd /dev/fd
ln -s fd/0 /dev/stdin
ln -s fd/1 /dev/stdout
ln -s fd/2 /dev/stderr
mkdir -p /dev/pts /dev/shm /dev/hugepages
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t hugetlbfs hugetlbfs /dev/hugepages
mount -o rbind /dev /host/dev
echo "${LAB_HUGEPAGES:-256}" >/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
mount --bind /sys /host/sys
mount -t proc proc /host/proc
ip link set lo up

mkdir -p /host/run/lab
cp "/mnt/host$env_file" /host/run/lab/env
env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb \
  chroot /host /bin/bash -c 'set -a && . /run/lab/env && set +a && eval "$LAB_RUN"'
result $?
