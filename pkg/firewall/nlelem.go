package firewall

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The per-NIC hot path (Apply and Remove of set elements) speaks
// nf_tables netlink directly instead of through google/nftables: it needs
// control over the element timeout attribute (0 = permanent, to revive an
// element whose expiry a Remove just set) and over NLM_F_EXCL, and it must
// stay a single small batch with one socket.

// Element flags and message types of nf_tables (linux/netfilter/nf_tables.h).
const (
	nftMsgNewSetElem = unix.NFT_MSG_NEWSETELEM
	nftMsgDelSetElem = unix.NFT_MSG_DELSETELEM
	nftMsgGetSet     = unix.NFT_MSG_GETSET
	// nftMsgDestroySetElem deletes an element if it exists (kernel 6.3+).
	nftMsgDestroySetElem = 30

	attrElemListTable    = unix.NFTA_SET_ELEM_LIST_TABLE
	attrElemListSet      = unix.NFTA_SET_ELEM_LIST_SET
	attrElemListElements = unix.NFTA_SET_ELEM_LIST_ELEMENTS
	attrListElem         = unix.NFTA_LIST_ELEM
	attrElemKey          = unix.NFTA_SET_ELEM_KEY
	attrElemData         = unix.NFTA_SET_ELEM_DATA
	attrElemTimeout      = unix.NFTA_SET_ELEM_TIMEOUT
	attrDataValue        = unix.NFTA_DATA_VALUE
	attrDataVerdict      = unix.NFTA_DATA_VERDICT
	attrVerdictCode      = unix.NFTA_VERDICT_CODE
	attrVerdictChain     = unix.NFTA_VERDICT_CHAIN
	attrSetTable         = unix.NFTA_SET_TABLE
	attrSetName          = unix.NFTA_SET_NAME
	verdictJump          = unix.NFT_JUMP
)

// elemOp is one element change: add (permanent, or expiring after
// Timeout) or delete.
type elemOp struct {
	family  Family
	set     string
	key     []byte
	chain   string // jump verdict data (maps of verdicts)
	data    []byte // value data (maps of values)
	timeout time.Duration
	// permanent sends a zero timeout, which makes an element that is
	// expiring (a Remove of the same key moments ago) permanent again.
	permanent bool
	del       bool
	// destroy deletes the element if it exists (kernel 6.3+).
	destroy bool
}

// nlBatch encodes one nf_tables batch of element messages.
type nlBatch struct {
	msgs []netlink.Message
}

func nfgen(family Family) []byte {
	return []byte{byte(family.nft()), unix.NFNETLINK_V0, 0, 0}
}

func (b *nlBatch) add(op elemOp) error {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	ae.String(attrElemListTable, TableName)
	ae.String(attrElemListSet, op.set)
	ae.Nested(attrElemListElements, func(ae *netlink.AttributeEncoder) error {
		ae.Nested(attrListElem, func(ae *netlink.AttributeEncoder) error {
			ae.Nested(attrElemKey, func(ae *netlink.AttributeEncoder) error {
				ae.Bytes(attrDataValue, op.key)
				return nil
			})
			if op.del || op.destroy {
				return nil
			}
			switch {
			case op.chain != "":
				ae.Nested(attrElemData, func(ae *netlink.AttributeEncoder) error {
					ae.Nested(attrDataVerdict, func(ae *netlink.AttributeEncoder) error {
						ae.Int32(attrVerdictCode, verdictJump)
						ae.String(attrVerdictChain, op.chain)
						return nil
					})
					return nil
				})
			case op.data != nil:
				ae.Nested(attrElemData, func(ae *netlink.AttributeEncoder) error {
					ae.Bytes(attrDataValue, op.data)
					return nil
				})
			}
			if op.timeout > 0 || op.permanent {
				ae.Uint64(attrElemTimeout, uint64(op.timeout.Milliseconds()))
			}
			return nil
		})
		return nil
	})
	attrs, err := ae.Encode()
	if err != nil {
		return fmt.Errorf("encode element of %s: %w", op.set, err)
	}
	typ, flags := nftMsgNewSetElem, netlink.Request|netlink.Acknowledge|netlink.Create
	switch {
	case op.del:
		typ, flags = nftMsgDelSetElem, netlink.Request|netlink.Acknowledge
	case op.destroy:
		typ, flags = nftMsgDestroySetElem, netlink.Request|netlink.Acknowledge
	}
	b.msgs = append(b.msgs, netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | typ), Flags: flags},
		Data:   append(nfgen(op.family), attrs...),
	})
	return nil
}

// send sends the batch on c and waits for one answer per message. A
// batch is atomic: on any error nothing of it was applied.
func (b *nlBatch) send(c *netlink.Conn) error {
	if len(b.msgs) == 0 {
		return nil
	}
	batch := make([]netlink.Message, 0, len(b.msgs)+2)
	batch = append(batch, netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_MSG_BATCH_BEGIN), Flags: netlink.Request},
		Data:   []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, unix.NFNL_SUBSYS_NFTABLES},
	})
	// Only the last message asks for an acknowledgement: errors are
	// always reported, and one answer tells the whole batch succeeded.
	for i, m := range b.msgs {
		if i < len(b.msgs)-1 {
			m.Header.Flags &^= netlink.Acknowledge
		}
		batch = append(batch, m)
	}
	batch = append(batch, netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_MSG_BATCH_END), Flags: netlink.Request},
		Data:   []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, unix.NFNL_SUBSYS_NFTABLES},
	})
	sent, err := c.SendMessages(batch)
	if err != nil {
		return fmt.Errorf("send batch: %w", err)
	}
	last := sent[len(sent)-2].Header.Sequence
	for {
		msgs, err := c.Receive()
		if err != nil {
			// mdlayher/netlink returns an error answer as an error: the
			// batch failed as a whole.
			return err
		}
		for _, m := range msgs {
			if m.Header.Sequence == last {
				return nil
			}
		}
	}
}

// getSet reports whether set exists in diktyo's table of family.
func getSet(c *netlink.Conn, family Family, set string) (bool, error) {
	return getObject(c, family, nftMsgGetSet, attrSetTable, attrSetName, set)
}

// getObject reports whether the named object of diktyo's table of family
// exists (a GET request of msg with its table and name attributes).
func getObject(c *netlink.Conn, family Family, msg uint16, tableAttr, nameAttr uint16, name string) (bool, error) {
	ae := netlink.NewAttributeEncoder()
	ae.String(tableAttr, TableName)
	ae.String(nameAttr, name)
	attrs, err := ae.Encode()
	if err != nil {
		return false, err
	}
	_, err = c.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | int(msg)), Flags: netlink.Request},
		Data:   append(nfgen(family), attrs...),
	})
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}
