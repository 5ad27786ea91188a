package clusterpkg

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/internal/stackconfig"
)

// Args reads the component's inputs the way the Go program reads its stack
// config, through stackconfig.ClusterArgs (the same parsing, the same
// messages), each input being the config key of its name. stack is the
// consumer's stack, which decides as for the program whether plaintext
// etcd needs acknowledging. outputs are the same inputs as Pulumi outputs:
// image and sshAuthorizedKeys are taken from there when another resource
// feeds them, so the cluster depends on it and checks them when they
// resolve, as it does for a Go caller.
func Args(stack string, inputs property.Map, outputs pulumi.Map) (components.ClusterArgs, error) {
	values := map[string]string{}
	secrets := map[string]bool{}
	fromOutputs := map[string]bool{}
	var errs []error
	for key, v := range inputs.AllStable {
		if slices.Contains(fromOtherResources, key) && (v.HasComputed() || v.HasSecrets() || len(v.Dependencies()) > 0) {
			fromOutputs[key] = true
			continue
		}
		if v.HasComputed() {
			errs = append(errs, fmt.Errorf("%s: not known yet (another resource's output, before it exists); the cluster checks every setting before it creates anything, so this one must be a value", key))
			continue
		}
		if v.IsNull() {
			continue
		}
		s, err := configValue(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
			continue
		}
		values[key], secrets[key] = s, v.HasSecrets()
	}
	args, err := stackconfig.ClusterArgs(stack,
		func(k string) (string, bool) { v, ok := values[k]; return v, ok },
		func(k string) bool { return secrets[k] })
	if err := errors.Join(append(errs, err)...); err != nil {
		return components.ClusterArgs{}, err
	}
	if fromOutputs["image"] && outputs["image"] != nil {
		args.Image = pulumi.ToOutput(outputs["image"]).ApplyT(func(v any) (string, error) {
			s, _ := v.(string)
			return s, nil
		}).(pulumi.StringOutput)
	}
	if fromOutputs["sshAuthorizedKeys"] && outputs["sshAuthorizedKeys"] != nil {
		args.SSHAuthorizedKeys = pulumi.ToOutput(outputs["sshAuthorizedKeys"]).ApplyT(func(v any) ([]string, error) {
			var keys []string
			switch v := v.(type) {
			case []string:
				keys = v
			case []any:
				for _, k := range v {
					s, ok := k.(string)
					if !ok {
						return nil, fmt.Errorf("sshAuthorizedKeys: %v is not a string", k)
					}
					keys = append(keys, s)
				}
			}
			return keys, nil
		}).(pulumi.StringArrayOutput)
	}
	return args, nil
}

// configValue is v as the Pulumi CLI hands a stack config value to a
// program: scalars as text, lists and maps as JSON.
func configValue(v property.Value) (string, error) {
	switch {
	case v.IsString():
		return v.AsString(), nil
	case v.IsBool():
		return strconv.FormatBool(v.AsBool()), nil
	case v.IsNumber():
		return strconv.FormatFloat(v.AsNumber(), 'f', -1, 64), nil
	case v.IsArray(), v.IsMap():
		b, err := json.Marshal(plainValue(v))
		return string(b), err
	}
	return "", fmt.Errorf("%v is not a value a setting takes", v)
}

func plainValue(v property.Value) any {
	switch {
	case v.IsArray():
		var out []any
		for _, e := range v.AsArray().All {
			out = append(out, plainValue(e))
		}
		return out
	case v.IsMap():
		out := map[string]any{}
		for k, e := range v.AsMap().All {
			out[k] = plainValue(e)
		}
		return out
	case v.IsString():
		return v.AsString()
	case v.IsBool():
		return v.AsBool()
	case v.IsNumber():
		return v.AsNumber()
	}
	return nil
}
