// Package announce sends the gratuitous ARPs and unsolicited neighbour
// advertisements that tell upstream routers where a routed VM's addresses
// now live, and decides when: a VM's addresses move to a host when the VM
// runs there, which for a live migration is seconds after diktyo-ifup
// wired the target's tap.
//
// Two senders implement Sender. Socket sends in-process at once, from an
// AF_PACKET socket (pkg/afpacket). Spawner only collects the frames of one
// NIC; SpawnAfter then starts one detached child process (Command, usually
// the calling binary's hidden Subcommand, which hands its arguments to
// Run) and returns without waiting for it. The child:
//
//   - with -after-rx TAPINDEX, first waits until the tap has received a
//     frame from its VM (its rx counters, delivered or dropped, are not
//     zero, or a frame arrives),
//     at most -wait (DefaultWait): the first frame a migrated VM sends on
//     its new host (QEMU's self-announcement or the guest's own) is the
//     moment the router must switch. A tap that disappears meanwhile ends
//     the child without sending anything (the VM never ran here); when the
//     wait runs out it sends anyway;
//   - then sends every frame -count times (DefaultCount), -interval apart
//     (DefaultInterval), the first round at once.
//
// The caller thus waits neither for the VM nor for the repeated sends, nor
// for the RCU grace period that closing an AF_PACKET socket costs (~16 ms,
// also at process exit). Failures of the child go to syslog.
package announce
