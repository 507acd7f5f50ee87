package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/porticoproxy/portico/controller/store"
)

// A list answers a page at a time: ?limit= items (defaultPageSize when
// absent, at most maxPageSize) from ?cursor=, which the previous page's
// Link header (rel="next", RFC 8288) carries; the last page has none.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// pageRequest reads a list call's limit and cursor, or answers 400 and
// returns false.
func pageRequest(w http.ResponseWriter, r *http.Request) (limit int, after *store.ShareCursor, ok bool) {
	limit = defaultPageSize
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("limit %q: want a whole number from 1 to %d", v, maxPageSize))
			return 0, nil, false
		}
		limit = n
	}
	if v := r.URL.Query().Get("cursor"); v != "" {
		c, err := decodeCursor(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "cursor: "+err.Error()+"; pass the one a page's Link header gives")
			return 0, nil, false
		}
		after = &c
	}
	return limit, after, true
}

// cursor is a page's start as the API hands it out: opaque to clients.
type cursor struct {
	At    time.Time `json:"at"`
	Token string    `json:"token"`
}

func encodeCursor(c store.ShareCursor) string {
	b, _ := json.Marshal(cursor{At: c.CreatedAt, Token: c.Token})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (store.ShareCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var c cursor
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.Token == "" || c.At.IsZero() {
		return store.ShareCursor{}, errors.New("malformed")
	}
	return store.ShareCursor{CreatedAt: c.At, Token: c.Token}, nil
}

// setNextPage points the Link header at the page after this one, if any.
func setNextPage(w http.ResponseWriter, r *http.Request, limit int, next *store.ShareCursor) {
	if next == nil {
		return
	}
	q := url.Values{"limit": {strconv.Itoa(limit)}, "cursor": {encodeCursor(*next)}}
	w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, r.URL.Path, q.Encode()))
}
