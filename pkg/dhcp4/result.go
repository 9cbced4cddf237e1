package dhcp4

import "strconv"

// MessageType is a DHCP message type (option 53, RFC 2132 9.6).
type MessageType uint8

// DHCP message types.
const (
	TypeDiscover MessageType = 1
	TypeOffer    MessageType = 2
	TypeRequest  MessageType = 3
	TypeDecline  MessageType = 4
	TypeAck      MessageType = 5
	TypeNak      MessageType = 6
	TypeRelease  MessageType = 7
	TypeInform   MessageType = 8
)

var messageTypeNames = [...]string{
	TypeDiscover: "DISCOVER",
	TypeOffer:    "OFFER",
	TypeRequest:  "REQUEST",
	TypeDecline:  "DECLINE",
	TypeAck:      "ACK",
	TypeNak:      "NAK",
	TypeRelease:  "RELEASE",
	TypeInform:   "INFORM",
}

// String returns the RFC name of t, e.g. "DISCOVER".
func (t MessageType) String() string {
	if int(t) < len(messageTypeNames) && messageTypeNames[t] != "" {
		return messageTypeNames[t]
	}
	return "MessageType(" + strconv.Itoa(int(t)) + ")"
}

// Kind says what Handle did with a request.
type Kind uint8

// Kinds of results. Only KindOffer, KindAck, KindNak and KindInformAck come
// with a reply frame.
const (
	// KindDrop: no reply; Result.Reason says why.
	KindDrop Kind = iota
	// KindOffer: DISCOVER answered with an OFFER.
	KindOffer
	// KindAck: REQUEST answered with an ACK.
	KindAck
	// KindNak: REQUEST answered with a NAK; Result.Reason says why.
	KindNak
	// KindInformAck: INFORM answered with an ACK (no lease, no yiaddr).
	KindInformAck
	// KindRelease: a valid RELEASE from the VM; nothing to send.
	KindRelease
	// KindDecline: a valid DECLINE from the VM; nothing to send.
	KindDecline
)

var kindNames = [...]string{
	KindDrop:      "drop",
	KindOffer:     "offer",
	KindAck:       "ack",
	KindNak:       "nak",
	KindInformAck: "inform-ack",
	KindRelease:   "release",
	KindDecline:   "decline",
}

// String returns a short lower-case name of k for logs and metrics.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Replied reports whether k comes with a reply frame.
func (k Kind) Replied() bool {
	return k == KindOffer || k == KindAck || k == KindNak || k == KindInformAck
}

// Reason says why a request was dropped (or NAKed). The daemon counts and
// logs them, rate-limited per tap.
type Reason uint8

// Reasons. Those up to ReasonNoMessageType come from ParseRequest.
const (
	// ReasonNone: nothing went wrong.
	ReasonNone Reason = iota
	// ReasonMalformedIP: the IPv4 header does not parse (version, IHL,
	// total length beyond the packet).
	ReasonMalformedIP
	// ReasonFragment: an IPv4 fragment (MF set or non-zero offset).
	ReasonFragment
	// ReasonNotUDP: IPv4 protocol is not UDP.
	ReasonNotUDP
	// ReasonMalformedUDP: UDP length shorter than its header or beyond the
	// IPv4 payload.
	ReasonMalformedUDP
	// ReasonNotServerPort: UDP destination port is not 67.
	ReasonNotServerPort
	// ReasonMalformed: BOOTP message too short or options overrun, an
	// option we read has a bad length or is repeated.
	ReasonMalformed
	// ReasonNotRequest: BOOTP op is not BOOTREQUEST.
	ReasonNotRequest
	// ReasonBadHType: htype is not Ethernet or hlen is not 6.
	ReasonBadHType
	// ReasonBadCookie: no DHCP magic cookie (plain BOOTP is not served).
	ReasonBadCookie
	// ReasonNoMessageType: option 53 missing.
	ReasonNoMessageType
	// ReasonUnexpectedType: a message type a server does not answer
	// (OFFER, ACK, NAK, unknown values).
	ReasonUnexpectedType
	// ReasonRelay: giaddr is set; nfdhcpd is never a relay's target.
	ReasonRelay
	// ReasonChaddrMismatch: chaddr differs from the frame's source MAC.
	ReasonChaddrMismatch
	// ReasonMACMismatch: chaddr differs from the binding's MAC (and the
	// binding does not allow MAC spoofing).
	ReasonMACMismatch
	// ReasonNoBinding: Handle was called without a binding.
	ReasonNoBinding
	// ReasonNoAddress: the binding has no IP (e.g. a private network NIC).
	ReasonNoAddress
	// ReasonNotIPv4: the binding's IP is not IPv4.
	ReasonNotIPv4
	// ReasonNotOurServer: a REQUEST carries another server's identifier.
	ReasonNotOurServer
	// ReasonWrongAddress: a REQUEST asks for an address that is not the
	// binding's (the request is NAKed).
	ReasonWrongAddress
	// ReasonServerConfig: no server IP (config or gateway) or no server MAC
	// to send the reply from.
	ReasonServerConfig
	numReasons
)

var reasonNames = [...]string{
	ReasonNone:           "none",
	ReasonMalformedIP:    "malformed-ip",
	ReasonFragment:       "fragment",
	ReasonNotUDP:         "not-udp",
	ReasonMalformedUDP:   "malformed-udp",
	ReasonNotServerPort:  "not-server-port",
	ReasonMalformed:      "malformed",
	ReasonNotRequest:     "not-request",
	ReasonBadHType:       "bad-htype",
	ReasonBadCookie:      "bad-cookie",
	ReasonNoMessageType:  "no-message-type",
	ReasonUnexpectedType: "unexpected-type",
	ReasonRelay:          "relay",
	ReasonChaddrMismatch: "chaddr-mismatch",
	ReasonMACMismatch:    "mac-mismatch",
	ReasonNoBinding:      "no-binding",
	ReasonNoAddress:      "no-address",
	ReasonNotIPv4:        "not-ipv4",
	ReasonNotOurServer:   "not-our-server",
	ReasonWrongAddress:   "wrong-address",
	ReasonServerConfig:   "server-config",
}

// String returns a short lower-case name of r for logs and metric labels.
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "Reason(" + strconv.Itoa(int(r)) + ")"
}

// Result tells the daemon what Handle did, for counting and logging.
type Result struct {
	// Kind is what was done; a frame is returned iff Kind.Replied().
	Kind Kind
	// Reason is why the request was dropped (KindDrop) or NAKed (KindNak);
	// ReasonNone otherwise.
	Reason Reason
	// Msg is the parsed request, as far as parsing got (zero when the
	// packet did not parse up to the BOOTP header).
	Msg Message
}
