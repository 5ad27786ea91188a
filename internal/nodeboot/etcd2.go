package nodeboot

import (
	"fmt"
	"reflect"

	"github.com/coreos/coreos-cloudinit/config"
)

// etcd2 turns the coreos.etcd2 section into etcd2.service's environment, as
// coreos-cloudinit writes its 20-cloudinit.conf drop-in: one ETCD_* variable
// per non-empty field.
func etcd2(cc *config.CloudConfig, p *Process, env map[string]string) error {
	for _, u := range cc.CoreOS.Units {
		switch {
		case u.Content != "" || u.Mask:
			return fmt.Errorf("unit %s: the rehearsal runs etcd2.service and fleet.service as shipped, without content", u.Name)
		case u.Name == "etcd2.service" && u.Command == "start":
			p.Unit = u.Name
			for _, d := range u.DropIns {
				// Only ordering lines: etcd2's settings come from coreos.etcd2.
				scratch := map[string]string{}
				if err := dropIn(u.Name, d, scratch, new(string)); err != nil || len(scratch) > 0 {
					return fmt.Errorf("unit %s drop-in %s: the rehearsal interprets only ordering lines here (%v)", u.Name, d.Name, err)
				}
			}
		case len(u.DropIns) > 0:
			return fmt.Errorf("unit %s: the rehearsal cannot interpret its drop-ins", u.Name)
		case u.Name == "fleet.service":
			// fleet schedules containers through etcd; it is not part of the
			// etcd topology the rehearsal proves.
		default:
			return fmt.Errorf("unit %s (command %q): the rehearsal cannot interpret it", u.Name, u.Command)
		}
	}
	e := cc.CoreOS.Etcd2
	rv, rt := reflect.ValueOf(e), reflect.TypeOf(e)
	for i := range rt.NumField() {
		if f := rv.Field(i); !f.IsZero() {
			env[rt.Field(i).Tag.Get("env")] = fmt.Sprint(f.Interface())
		}
	}
	if len(env) == 0 {
		return fmt.Errorf("coreos.etcd2 is empty")
	}
	// etcd2 serves only the v2 API; etcd 3.5 stands in for it, so it must
	// serve v2 as well.
	env["ETCD_ENABLE_V2"] = "true"
	p.Kind = ""
	return nil
}
