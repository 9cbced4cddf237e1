package hook

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
)

// EnvNodeName overrides this node's name (tests, or a host whose name
// Ganeti knows under another FQDN). Ganeti resets the environment of the
// hooks it runs, so in production the name comes from NodeName's other
// sources.
const EnvNodeName = "DIKTYO_NODE_NAME"

// DefaultDataDir is Ganeti's data directory when GANETI_DATA_DIR is unset.
const DefaultDataDir = "/var/lib/ganeti"

// NodeName returns this node's name as Ganeti knows it (the FQDN it
// compares with GANETI_MASTER, GANETI_INSTANCE_PRIMARY...):
//
//  1. $DIKTYO_NODE_NAME;
//  2. the host name (os.Hostname) when it is one of the cluster's nodes,
//     listed in Ganeti's ssconf_node_list under dataDir;
//  3. the one node of that list whose first label is the host name (a
//     host named "node1" in a cluster of "node1.example.org");
//  4. the host name as it is.
func NodeName(getenv func(string) string, dataDir string) string {
	if n := getenv(EnvNodeName); n != "" {
		return n
	}
	host, err := os.Hostname()
	if err != nil {
		return ""
	}
	if dataDir == "" {
		dataDir = DefaultDataDir
	}
	data, err := os.ReadFile(filepath.Join(dataDir, "ssconf_node_list"))
	if err != nil {
		return host
	}
	return matchNode(host, data)
}

// matchNode picks host's entry in ssconf_node_list data.
func matchNode(host string, data []byte) string {
	short, _, _ := strings.Cut(host, ".")
	var byShort []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		n := strings.TrimSpace(sc.Text())
		if n == "" {
			continue
		}
		if strings.EqualFold(n, host) {
			return n
		}
		if first, _, _ := strings.Cut(n, "."); strings.EqualFold(first, short) {
			byShort = append(byShort, n)
		}
	}
	if len(byShort) == 1 && !strings.Contains(host, ".") {
		return byShort[0]
	}
	return host
}
