package fakecloud

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Change is one create, update or delete a stand-in provider carried out
// for the engine: what the cloud would have done.
type Change struct {
	Op   string       `json:"op"`
	URN  resource.URN `json:"urn"`
	Type string       `json:"type"`
	Name string       `json:"name"`
}

// Journal is a file of Changes, one JSON object a line, appended to by
// every stand-in provider process of a run; "" records nothing.
type Journal string

// Record appends op on urn. Lines are short, and a file opened for append
// takes each write whole, so the providers of one run may share it.
func (j Journal) Record(op string, urn resource.URN) error {
	if j == "" {
		return nil
	}
	line, err := json.Marshal(Change{Op: op, URN: urn, Type: string(urn.Type()), Name: urn.Name()})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(string(j), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("fakecloud journal: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("fakecloud journal: %w", err)
	}
	return f.Close()
}

// Changes are the changes recorded so far, in order; none when the file
// does not exist yet.
func (j Journal) Changes() ([]Change, error) {
	f, err := os.Open(string(j))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Change
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var c Change
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return nil, fmt.Errorf("fakecloud journal %s: %w", string(j), err)
		}
		out = append(out, c)
	}
	return out, sc.Err()
}
