package engines

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/jsonmergepatch"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
)

// FieldManager is the field manager of every write Apply makes.
const FieldManager = "kubecluster"

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// Apply applies every object of a multi-document YAML stream, in order,
// as Argo CD does by default, that is as kubectl apply -n namespace: a
// namespaced object without a namespace goes to namespace ("default" when
// it is empty), and an object that exists is patched with a three-way merge
// of the last applied configuration (an annotation), the new one and the
// live object, so what controllers added stays. That matters: the Rollouts
// controller adds rollouts-pod-template-hash to the Services' selectors, and
// a server-side apply that forces its own selector (an atomic map) would
// take it away, making the next release an "initial deploy" with no pause.
// The patch is a JSON merge patch, built-in types included (kubectl uses a
// strategic merge there): a list in the manifest replaces the live one.
//
// CustomResourceDefinitions are server-side applied instead (Argo CD's are
// too big for the annotation, which is why its install needs
// --server-side), and Apply waits until each is Established, so one stream
// can hold CRDs and their objects.
func (c *Cluster) Apply(ctx context.Context, namespace string, manifests []byte) error {
	dyn, err := dynamic.NewForConfig(c.rest)
	if err != nil {
		return fmt.Errorf("apply: client: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(c.rest)
	if err != nil {
		return fmt.Errorf("apply: discovery: %w", err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dec := yamlutil.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("apply: decode: %w", err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if err := c.applyOne(ctx, dyn, mapper, namespace, u); err != nil {
			return err
		}
	}
}

func (c *Cluster) applyOne(ctx context.Context, dyn dynamic.Interface, mapper *restmapper.DeferredDiscoveryRESTMapper, namespace string, u *unstructured.Unstructured) error {
	gvk := u.GroupVersionKind()
	what := fmt.Sprintf("%s %s", gvk.Kind, u.GetName())
	mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		mapper.Reset() // a CRD applied since the last discovery
		mapping, err = mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return fmt.Errorf("apply %s: %w", what, err)
	}
	var ri dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := u.GetNamespace()
		if ns == "" {
			ns = namespace
		}
		if ns == "" {
			ns = "default"
		}
		ri = dyn.Resource(mapping.Resource).Namespace(ns)
	}
	if mapping.Resource != crdResource {
		if err := clientSideApply(ctx, ri, u); err != nil {
			return fmt.Errorf("apply %s: %w", what, err)
		}
		return nil
	}
	data, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("apply %s: %w", what, err)
	}
	force := true
	if _, err := ri.Patch(ctx, u.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: FieldManager, Force: &force}); err != nil {
		return fmt.Errorf("apply %s: %w", what, err)
	}
	err = c.wait(ctx, "CRD "+u.GetName()+" Established", func(ctx context.Context) error {
		crd, err := dyn.Resource(crdResource).Get(ctx, u.GetName(), metav1.GetOptions{})
		if err != nil {
			return err
		}
		conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
		for _, cond := range conds {
			if m, ok := cond.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
				return nil
			}
		}
		return errors.New("not Established yet")
	})
	mapper.Reset()
	return err
}

// lastApplied is kubectl's annotation for the configuration it last applied.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// clientSideApply creates u, or patches the live object with a three-way
// JSON merge patch (last applied, u, live), recording u as last applied.
func clientSideApply(ctx context.Context, ri dynamic.ResourceInterface, u *unstructured.Unstructured) error {
	conf, err := json.Marshal(u)
	if err != nil {
		return err
	}
	modified := u.DeepCopy()
	ann := modified.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[lastApplied] = string(conf)
	modified.SetAnnotations(ann)
	live, err := ri.Get(ctx, u.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = ri.Create(ctx, modified, metav1.CreateOptions{FieldManager: FieldManager})
		return err
	}
	if err != nil {
		return err
	}
	original := []byte(live.GetAnnotations()[lastApplied])
	if len(original) == 0 {
		original = []byte("{}")
	}
	modJSON, err := json.Marshal(modified)
	if err != nil {
		return err
	}
	liveJSON, err := json.Marshal(live)
	if err != nil {
		return err
	}
	patch, err := jsonmergepatch.CreateThreeWayJSONMergePatch(original, modJSON, liveJSON)
	if err != nil {
		return fmt.Errorf("three-way merge: %w", err)
	}
	_, err = ri.Patch(ctx, u.GetName(), types.MergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager})
	return err
}
