# diktyo-ifup reconcile for hosts without systemd (with systemd,
# diktyo-reconcile.timer runs it).
*/5 * * * * root [ -d /run/systemd/system ] || [ ! -x /usr/sbin/diktyo-ifup ] || /usr/sbin/diktyo-ifup reconcile
