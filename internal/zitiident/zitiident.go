// Package zitiident enrolls OpenZiti identities and dials and binds services with them. The
// agent, the CLI and the frontend share it.
package zitiident

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/openziti/sdk-golang/ziti"
	"github.com/openziti/sdk-golang/ziti/edge"
	"github.com/openziti/sdk-golang/ziti/enroll"
	"go.uber.org/zap"
)

// ErrServiceNotFound means the identity cannot see the service, even after asking the
// controller again: it does not exist, or no policy grants the identity access to it.
var ErrServiceNotFound = errors.New("service not found")

// listenTerminators is how many edge routers a bind holds a terminator on
// (the SDK's default is one). With one, losing that router leaves the share
// without a terminator until the SDK binds again, which needs a leader in
// an OpenZiti cluster; with three, the share rides out the loss of any two
// routers, as of two members of a three-member cluster.
const listenTerminators = 3

// listenRetryFor bounds how long Listen keeps retrying while a new service or its policies
// propagate to the identity.
const listenRetryFor = 10 * time.Second

// Enroll enrolls the one-time-token identity of jwt and returns the identity file (a JSON
// ziti.Config) that holds its certificate and private key. The key is generated here and never
// leaves this machine.
func Enroll(jwt string) ([]byte, error) {
	claims, token, err := enroll.ParseToken(jwt)
	if err != nil {
		return nil, fmt.Errorf("parsing enrollment token: %w", err)
	}
	cfg, err := enroll.Enroll(enroll.EnrollmentFlags{
		Token:     claims,
		JwtToken:  token,
		JwtString: jwt,
		// EC keys take milliseconds; RSA-4096 takes about 2 s.
		KeyAlg: "EC",
	})
	if err != nil {
		return nil, fmt.Errorf("enrolling identity: %w", err)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encoding identity: %w", err)
	}
	return withClusterMembers(b), nil
}

// withClusterMembers logs in with a new identity and, if its controller is
// one of a cluster, returns it listing every member (ztAPIs), so that it
// starts while the member that enrolled it is down. An identity that
// cannot log in now is returned as it is: it gets the list at its first
// start (NewContext).
func withClusterMembers(identity []byte) []byte {
	zc, err := NewContextFromJSON(identity)
	if err != nil {
		return identity
	}
	defer zc.Close()
	var urls []string
	onControllers(zc, func(u []string) { urls = u })
	if zc.Authenticate() != nil || urls == nil {
		return identity
	}
	for _, u := range urls {
		awaitMember(identity, u)
	}
	if updated, err := withControllers(identity, urls); err == nil {
		return updated
	}
	return identity
}

// memberCatchUp bounds how long awaitMember waits for one member.
const memberCatchUp = 5 * time.Second

// awaitMember waits until the cluster member at url accepts the new
// identity's login. A follower applies the enrollment a little after the
// member that enrolled it, and refuses the certificate until then (401),
// which the SDK does not retry; a process that started at once on such a
// member, picked at random from ztAPIs, would fail. A member that is down
// is not waited for long.
func awaitMember(identity []byte, url string) {
	single, err := withOnlyController(identity, url)
	if err != nil {
		return
	}
	deadline := time.Now().Add(memberCatchUp)
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		zc, err := NewContextFromJSON(single)
		if err == nil {
			err = zc.Authenticate()
			zc.Close()
		}
		if err == nil || time.Now().Add(wait).After(deadline) {
			return
		}
		time.Sleep(wait)
	}
}

// NewContext returns a Ziti context for the identity file written from Enroll's result. It
// authenticates lazily, on first use. When a login finds the controller to be one of a
// cluster whose members the file does not list, it records them in the file (ztAPIs).
func NewContext(identityFile string) (ziti.Context, error) {
	b, err := os.ReadFile(identityFile)
	if err != nil {
		return nil, fmt.Errorf("reading identity: %w", err)
	}
	zc, err := NewContextFromJSON(b)
	if err != nil {
		return nil, err
	}
	keepControllers(zc, identityFile, b)
	return zc, nil
}

// NewContextFromJSON is NewContext for an identity held in memory.
func NewContextFromJSON(identity []byte) (ziti.Context, error) {
	var cfg ziti.Config
	if err := json.Unmarshal(identity, &cfg); err != nil {
		return nil, fmt.Errorf("decoding identity: %w", err)
	}
	if (cfg.ZtAPI == "" && len(cfg.ZtAPIs) == 0) || cfg.ID.Cert == "" || cfg.ID.Key == "" {
		return nil, errors.New("not an enrolled ziti identity: the controller address, certificate or key is missing")
	}
	zc, err := ziti.NewContext(&cfg)
	if err != nil {
		return nil, fmt.Errorf("creating ziti context: %w", err)
	}
	cachePostureOS(zc)
	awaitVersionProbe(zc)
	return zc, nil
}

// versionProbeWait bounds awaitVersionProbe when the controller does not answer.
const versionProbeWait = 5 * time.Second

// awaitVersionProbe waits until the SDK's background probe of the controller's version is
// done. The probe races Authenticate on shared TLS state (openziti/sdk-golang#1024, v1.4.0 to
// v1.9.0), which fails every -race test that uses a context. The probe retries forever while
// the controller is down, so the wait is bounded; Authenticate would block on it anyway.
func awaitVersionProbe(zc ziti.Context) {
	impl, ok := zc.(*ziti.ContextImpl)
	if !ok || impl.CtrlClt == nil || impl.CtrlClt.ClientApiClient == nil || impl.CtrlClt.API == nil {
		return
	}
	done := make(chan struct{})
	go func() {
		// It runs the probe's sync.Once, so it returns when the probe has finished.
		impl.CtrlClt.API.ControllerSupportsHa()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(versionProbeWait):
	}
}

// dialTimeout is how long a dial without a deadline waits, as the SDK's DialContext does.
const dialTimeout = 5 * time.Second

// Dial connects to service through zc. A service created after zc authenticated is invisible
// to zc until its 5-minute refresh, so on a miss Dial asks the controller once and retries.
// A dial refused for zc's API session re-authenticates zc and is tried once more; logger
// (nil for none) is told.
func Dial(ctx context.Context, zc ziti.Context, service string, logger *zap.Logger) (edge.Conn, error) {
	return DialWithOptions(ctx, zc, service, nil, logger)
}

// DialWithOptions is Dial with the SDK's dial options, for example the Identity of the one
// terminator (agent) to reach. With nil options it is Dial. Without a ConnectTimeout or a
// deadline on ctx, it waits 5 s for the connection, as Dial does.
func DialWithOptions(ctx context.Context, zc ziti.Context, service string, opts *ziti.DialOptions, logger *zap.Logger) (edge.Conn, error) {
	return withSession(zc, logger, "dial", service, func() (edge.Conn, error) {
		return dialWithOptions(ctx, zc, service, opts)
	})
}

func dialWithOptions(ctx context.Context, zc ziti.Context, service string, opts *ziti.DialOptions) (edge.Conn, error) {
	if _, ok := ctx.Deadline(); opts != nil && opts.ConnectTimeout == 0 && !ok {
		o := *opts
		o.ConnectTimeout = dialTimeout
		opts = &o
	}
	dial := func() (edge.Conn, error) {
		if opts == nil {
			return zc.DialContext(ctx, service)
		}
		return zc.DialContextWithOptions(ctx, service, opts)
	}
	refreshed := false
	if _, ok := zc.GetService(service); !ok {
		if err := refresh(zc, service); err != nil {
			return nil, fmt.Errorf("dialing %q: %w", service, err)
		}
		refreshed = true
	}
	conn, err := dial()
	if err != nil && !refreshed && isMiss(err) && ctx.Err() == nil {
		// The cached service may be stale (deleted and created again under the same name).
		if rerr := refresh(zc, service); rerr != nil {
			return nil, fmt.Errorf("dialing %q: %w", service, rerr)
		}
		conn, err = dial()
	}
	if err != nil {
		return nil, fmt.Errorf("dialing %q: %w", service, err)
	}
	return conn, nil
}

// Listen binds service through zc and returns once a router has accepted the bind, so a dial
// that follows finds a terminator. While a new service or its Bind policy propagates to zc, it
// refreshes the service and retries for up to 10 s, within ctx. A non-empty identity names
// the terminator, so that a dialer can pick this listener among several. A bind refused for
// zc's API session re-authenticates zc and is tried once more, as Dial does.
func Listen(ctx context.Context, zc ziti.Context, service, identity string, logger *zap.Logger) (edge.Listener, error) {
	return withSession(zc, logger, "bind", service, func() (edge.Listener, error) {
		return listen(ctx, zc, service, identity)
	})
}

func listen(ctx context.Context, zc ziti.Context, service, identity string) (edge.Listener, error) {
	ctx, cancel := context.WithTimeout(ctx, listenRetryFor)
	defer cancel()

	var lastErr error
	wait := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		if _, ok := zc.GetService(service); !ok || attempt > 0 {
			lastErr = refresh(zc, service)
		}
		if lastErr == nil || !errors.Is(lastErr, ErrServiceNotFound) {
			opts := &ziti.ListenOptions{WaitForNEstablishedListeners: 1, Identity: identity, MaxTerminators: listenTerminators}
			// The SDK's wait for the bind ignores ctx, so bound it by what is left of ctx.
			if dl, ok := ctx.Deadline(); ok {
				opts.ConnectTimeout = max(time.Until(dl), time.Second)
			}
			l, err := zc.ListenWithOptions(service, opts)
			if err == nil {
				return l, nil
			}
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("listening on %q: %w", service, lastErr)
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// refresh asks the controller for service, which updates zc's cache.
func refresh(zc ziti.Context, service string) error {
	_, err := ServiceID(zc, service)
	return err
}

// isSessionError reports whether err says that the router or the controller refused zc's API
// session, as when another process of the same identity displaced it on a router without the
// openziti/ziti#3072 fix, or the session expired or was deleted. The SDK reports these only
// as formatted text, such as "invalid api session id, expected A, got B" or "invalid session".
func isSessionError(err error) bool {
	s := strings.ToLower(err.Error())
	for _, sub := range []string{"api session", "invalid session", "unauthorized", "invalid_auth"} {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// reauthenticator is the part of *ziti.ContextImpl that starts a new API session.
type reauthenticator interface{ Reauthenticate() error }

// reauth serialises the re-authentication of one context: a new API session closes every
// router connection of the context, so the many dials that fail together on one bad session
// must start one new session, not one each.
type reauth struct {
	mu sync.Mutex
	at time.Time // when the context last re-authenticated here
}

// reauths holds a reauth per context that ever needed one; a process has a handful.
var reauths sync.Map // ziti.Context → *reauth

// renew re-authenticates zc unless that happened since an operation that failed began at
// began: the failure is then the old session's, which is already replaced.
func renew(zc ziti.Context, began time.Time) error {
	v, _ := reauths.LoadOrStore(zc, new(reauth))
	r := v.(*reauth)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.at.After(began) {
		return nil
	}
	ra, ok := zc.(reauthenticator)
	if !ok {
		return errors.New("the ziti context cannot re-authenticate")
	}
	if err := ra.Reauthenticate(); err != nil {
		return err
	}
	r.at = time.Now()
	return nil
}

// withSession runs op and, if it fails on zc's API session, re-authenticates zc and runs op
// once more, so that no process stays locked out by a session the overlay no longer takes.
// A dial that succeeds pays for one clock read.
func withSession[T any](zc ziti.Context, logger *zap.Logger, what, service string, op func() (T, error)) (T, error) {
	began := time.Now()
	v, err := op()
	if err == nil || !isSessionError(err) {
		return v, err
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	if rerr := renew(zc, began); rerr != nil {
		logger.Warn("the overlay refused this process's session, and re-authenticating failed",
			zap.String("op", what), zap.String("service", service), zap.NamedError("refused", err), zap.Error(rerr))
		return v, err
	}
	logger.Warn("the overlay refused this process's session; re-authenticated and trying once more",
		zap.String("op", what), zap.String("service", service), zap.Error(err))
	return op()
}

// isMiss reports whether a dial error says that the service or its session is unknown. The SDK
// reports these only as formatted text ("service 'x' not found", "...NotFound").
func isMiss(err error) bool {
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "not found") || strings.Contains(s, "notfound")
}

// ServiceID asks the controller for service and returns its id, or
// ErrServiceNotFound when the identity can no longer see it.
func ServiceID(zc ziti.Context, service string) (string, error) {
	detail, err := zc.RefreshService(service)
	if err != nil {
		return "", fmt.Errorf("refreshing service: %w", err)
	}
	if detail == nil || detail.ID == nil {
		return "", ErrServiceNotFound
	}
	return *detail.ID, nil
}
