package engines

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/jsonmergepatch"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
)

// FieldManager is the field manager of every write Apply makes.
const FieldManager = "kubecluster"

var (
	crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	crdKind     = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}
)

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
// --server-side), and Apply waits until they are Established before the
// next other object, so one stream can hold CRDs and their objects.
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
	// CRDs applied and not yet seen Established: waited for together,
	// before the next other object and at the end.
	var pending []string
	established := func() error {
		if len(pending) == 0 {
			return nil
		}
		err := waitEstablished(ctx, dyn, pending)
		pending = nil
		mapper.Reset() // discovery now serves the new kinds
		return err
	}
	dec := yamlutil.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return established()
		} else if err != nil {
			return fmt.Errorf("apply: decode: %w", err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GroupVersionKind().GroupKind() == crdKind {
			if err := applyCRD(ctx, dyn, u); err != nil {
				return err
			}
			pending = append(pending, u.GetName())
			continue
		}
		if err := established(); err != nil {
			return err
		}
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
	if err := clientSideApply(ctx, ri, u); err != nil {
		return fmt.Errorf("apply %s: %w", what, err)
	}
	return nil
}

// applyCRD server-side applies a CustomResourceDefinition.
func applyCRD(ctx context.Context, dyn dynamic.Interface, u *unstructured.Unstructured) error {
	data, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("apply CustomResourceDefinition %s: %w", u.GetName(), err)
	}
	force := true
	if _, err := dyn.Resource(crdResource).Patch(ctx, u.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: FieldManager, Force: &force}); err != nil {
		return fmt.Errorf("apply CustomResourceDefinition %s: %w", u.GetName(), err)
	}
	return nil
}

// waitEstablished waits until every CRD named is Established, on one watch
// of the CRDs rather than by polling them: Argo CD's are megabytes of
// OpenAPI schema, and each GET made the apiserver read one from etcd,
// decode and encode it again (measured with perf: GETs of CRDs were a
// seventh of a cluster's apiserver CPU when the wait polled every 50 ms).
// A watch sends each CRD when it changes, a few times in all.
func waitEstablished(ctx context.Context, dyn dynamic.Interface, names []string) error {
	left := map[string]bool{}
	for _, n := range names {
		left[n] = true
	}
	var last error
	for {
		w, err := dyn.Resource(crdResource).Watch(ctx, metav1.ListOptions{})
		if err != nil {
			last = err
		} else {
			for ev := range w.ResultChan() {
				crd, ok := ev.Object.(*unstructured.Unstructured)
				if !ok || (ev.Type != watch.Added && ev.Type != watch.Modified) || !left[crd.GetName()] {
					continue
				}
				conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
				for _, cond := range conds {
					if m, ok := cond.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
						delete(left, crd.GetName())
					}
				}
				if len(left) == 0 {
					break
				}
			}
			w.Stop()
			last = errors.New("the watch ended")
		}
		if len(left) == 0 {
			return nil
		}
		// The watch could not start or ended (the server closes watches
		// now and then): watch again, as the poll it replaced retried.
		select {
		case <-ctx.Done():
			return fmt.Errorf("CRDs %s not Established: %w (last: %w)", strings.Join(slices.Sorted(maps.Keys(left)), ", "), ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
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
