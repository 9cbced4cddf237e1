// Package ipamcli is the diktyo-ipam administration command: networks
// (gnt-network style add, modify, remove, rename, list, info, connect,
// disconnect), address reservations and allocation, MAC generation, EUI-64
// addresses, JSON export and import, and the consistency check of the
// cluster-wide IP pool kept by pkg/ipam.
//
// All logic lives in Run, which takes the arguments, standard streams and
// environment as parameters, so tests call it directly; the binary's main
// only calls Run and exits with its result. The package holds no mutable
// package-level state. It opens the pool through pkg/ipam/storeurl (etcd
// pools in this process, with pkg/ipam/etcdstore) and must never import
// netlink, nftables or the DHCP responder.
//
// # Store
//
// The pool is the store named by the global --db flag, else by
// $DIKTYO_IPAM_DB, else by IPAM_DB in /etc/default/diktyo ($DIKTYO_CONFIG),
// else boltstore.DefaultPath: a bbolt file's path, or
// etcd://HOST:PORT[,HOST:PORT...]/PREFIX (etcds:// for TLS, with the client
// certificate, key and CA of IPAM_ETCD_CERT, IPAM_ETCD_KEY, IPAM_ETCD_CA in
// that file). --timeout (default 10s) bounds the wait for the bbolt lock,
// or for an etcd quorum. Commands that only read open the store read-only
// (bbolt: under a shared lock). Every command runs in one transaction: when
// it fails, nothing in the store changes, and arguments are checked before
// the store is opened. On etcd a transaction that conflicts with another
// node's runs again (see pkg/ipam/etcdstore).
//
// store migrate copies a pool between stores (bbolt to etcd and back) and
// verifies the copy: check on both sides and identical exports.
//
// # Output
//
// List-like commands (network list, network info, ip list, ip lookup,
// check, ...) follow the gnt-* conventions: aligned columns with a header
// line, -o/--output FIELD,... to choose the columns (+FIELD appends to the
// defaults), --no-headers, --separator=S for unaligned output, and
// -o json for a JSON document meant for scripts. ip allocate and mac
// generate print only the address or MAC they handed out.
//
// # Exit status
//
// Errors are reported as one line on stderr, "diktyo-ipam: ...", and the
// exit status says what class of failure it was:
//
//	0  success
//	1  other error (I/O, permissions, missing store file, ...)
//	2  usage: bad command line, malformed or inconsistent value
//	   (ipam.ErrInvalid, ipam.ErrOutOfNetwork, ipam.ErrNoIPv4)
//	3  not found: unknown network, group, address or owner (ipam.ErrNotFound)
//	4  conflict: exists, overlaps, already reserved, held by another owner,
//	   network in use (ipam.ErrExists, ErrOverlap, ErrConflict, ErrNotOwner,
//	   ErrInUse)
//	5  exhausted: no free address or MAC left (ipam.ErrExhausted)
//	6  store busy or unreachable: the lock was not obtained, or no etcd
//	   quorum answered (or conflicts went on), within --timeout
//	   (ipam.ErrBusy, etcdstore.ErrUnavailable)
//	7  store unusable: corrupt, not a diktyo store, or written by a newer
//	   diktyo (ipam.ErrCorrupt, ipam.ErrSchemaTooNew)
//	8  check found inconsistencies (printed on stdout)
//	9  unknown outcome: etcd lost a commit's answer and it cannot be told
//	   whether it was applied (etcdstore.ErrUnknownOutcome); look before
//	   retrying (ip lookup --owner)
package ipamcli
