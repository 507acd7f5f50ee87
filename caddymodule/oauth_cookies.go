package caddymodule

// oauth_cookies.go holds the cookies a login leaves: what they hold, how
// they are sealed, set, read back and hidden from the share.

import (
	"crypto/hkdf"
	"crypto/sha256"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/porticoproxy/portico/internal/policy"
	"github.com/porticoproxy/portico/internal/routes"
)

const (
	sessionCookie = "portico_session"
	loginCookie   = "portico_login"
	// loginLifetime bounds a login from the redirect to the callback.
	loginLifetime = 10 * time.Minute
)

// cookieCodecs seal the session and login cookies with keys derived from
// the one secret, each checking its own lifetime.
func cookieCodecs(secret string, sessionLifetime time.Duration) (session, login *securecookie.SecureCookie, err error) {
	// Separate keys for the MAC and the cipher, both from the one secret.
	hashKey, err := hkdf.Key(sha256.New, []byte(secret), nil, "portico cookie mac", 32)
	if err != nil {
		return nil, nil, err
	}
	blockKey, err := hkdf.Key(sha256.New, []byte(secret), nil, "portico cookie aes", 32)
	if err != nil {
		return nil, nil, err
	}
	// securecookie encrypts (AES-256-CTR), then signs (HMAC-SHA256) the
	// value with the cookie's name and a timestamp it checks against MaxAge.
	codec := func(maxAge time.Duration) *securecookie.SecureCookie {
		sc := securecookie.New(hashKey, blockKey)
		sc.SetSerializer(securecookie.JSONEncoder{})
		sc.MaxAge(int(maxAge.Seconds()))
		return sc
	}
	return codec(sessionLifetime), codec(loginLifetime), nil
}

// session is what the session cookie holds. The share token binds it to
// one share, so it is worth nothing on another even if it were moved there.
type session struct {
	Email    string `json:"e"`
	Share    string `json:"s"`
	Provider string `json:"p"`
	Expires  int64  `json:"x"`
}

// pendingLogin is what the login cookie holds between the redirect to the
// provider and the callback.
type pendingLogin struct {
	State    string `json:"st"`
	Verifier string `json:"v"`
	Nonce    string `json:"n"`
	Return   string `json:"r"`
	Share    string `json:"s"`
	Provider string `json:"p"`
}

func (o *oauthRuntime) readSession(r *http.Request, route *routes.Route, rule *policy.OAuthRule) (session, bool) {
	c, err := r.Cookie(cookieName(r, sessionCookie))
	if err != nil {
		return session{}, false
	}
	var sess session
	if err := o.session.Decode(sessionCookie, c.Value, &sess); err != nil {
		return session{}, false
	}
	ok := sess.Share == route.Share && sess.Provider == rule.Provider && time.Now().Unix() < sess.Expires
	return sess, ok
}

// cookie is one of ours: for this host only (no Domain), out of scripts'
// reach, sent on the provider's redirect back (Lax) and Secure over HTTPS.
// A negative maxAge deletes it.
func cookie(r *http.Request, name, value string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{
		Name: cookieName(r, name), Value: value, Path: "/",
		HttpOnly: true, Secure: scheme(r) == "https", SameSite: http.SameSiteLaxMode,
		MaxAge: int(maxAge.Seconds()),
	}
	if maxAge < 0 {
		c.MaxAge = -1
	}
	return c
}

// cookieName is the name a cookie of ours has on the wire. Over HTTPS the
// __Host- prefix makes browsers refuse one that a sibling share sets for the
// parent domain, so no share can plant a cookie on another.
func cookieName(r *http.Request, name string) string {
	if scheme(r) == "https" {
		return "__Host-" + name
	}
	return name
}

// hideCookies removes the frontend's cookies from a request before it
// reaches the share: they are none of its business.
func hideCookies(r *http.Request) {
	cookies := r.Cookies()
	kept := cookies[:0]
	for _, c := range cookies {
		if name := strings.TrimPrefix(c.Name, "__Host-"); name != sessionCookie && name != loginCookie {
			kept = append(kept, c)
		}
	}
	if len(kept) == len(cookies) {
		return
	}
	r.Header.Del("Cookie")
	for _, c := range kept {
		r.AddCookie(c)
	}
}
