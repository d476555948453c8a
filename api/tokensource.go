package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/internal/textsafe"
)

const (
	maxRenewMargin = time.Minute      // a request that takes the token reaches X in time, on a clock a little off
	lockWait       = time.Minute      // another process's renewal takes a second or two
	refreshLimit   = 30 * time.Second // an endpoint that never answers must not keep the lock
	saveLimit      = 10 * time.Second // a file takes milliseconds, a shared store a round trip
)

// ErrClientRefused matches a token endpoint that refuses the app (invalid_client, unauthorized_client,
// 401): its client ID or secret is wrong.
var ErrClientRefused = errors.New("the token endpoint refused the app's client credentials")

// NewFileTokenSource is NewStoreTokenSource(ctx, conf, NewFileTokenStore(path)).
func NewFileTokenSource(ctx context.Context, conf *oauth2.Config, path string) (oauth2.TokenSource, error) {
	store, err := NewFileTokenStore(path)
	if err != nil {
		return nil, err
	}
	return NewStoreTokenSource(ctx, conf, store)
}

// NewStoreTokenSource returns an oauth2.ReuseTokenSourceWithExpiry of the token in store, renewed through
// conf a minute (or a quarter of its lifetime, if less) before it expires. A renewal locks the store,
// reads it again, renews only if still needed, saves, and unlocks: one renewal across processes. A sent
// renewal is saved even if ctx ends. No token or invalid_grant matches ErrLoginRequired; a refused app,
// ErrClientRefused. docs/authentication.md has the details.
func NewStoreTokenSource(ctx context.Context, conf *oauth2.Config, store TokenStore) (oauth2.TokenSource, error) {
	if conf.Endpoint.TokenURL == "" {
		return nil, errors.New("NewStoreTokenSource: the oauth2.Config has no Endpoint.TokenURL to renew the token at")
	}
	c := *conf
	if c.Endpoint.AuthStyle == oauth2.AuthStyleAutoDetect {
		c.Endpoint.AuthStyle = oauth2.AuthStyleInParams
		if c.ClientSecret != "" {
			c.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
		}
	}
	tok, err := store.Load(ctx)
	if err != nil {
		return nil, err
	}
	r := &refresher{ctx: withoutRedirects(ctx), conf: &c, store: store, storeName: "the token store", endpoint: "the token endpoint"}
	if fileStore, ok := store.(*FileTokenStore); ok {
		r.storeName = fileStore.name
	}
	if u, err := url.Parse(c.Endpoint.TokenURL); err == nil && u.Host != "" {
		r.endpoint += " at " + textsafe.OneLine(originOf(u)) // its path or query may hold a credential
	}
	// handedOut sets the margin in Expiry (a token that needs renewal is expired already), so none is added.
	return tokenFunc(oauth2.ReuseTokenSourceWithExpiry(handedOut(tok), r, time.Nanosecond).Token), nil
}

// tokenFunc is a TokenSource as a func value, which every fmt verb prints as an address: the tokens stay
// out of reach, as the Client's credentials do (see authorizer).
type tokenFunc func() (*oauth2.Token, error)

func (f tokenFunc) Token() (*oauth2.Token, error) { return f() }

// withoutRedirects returns ctx with a copy of its oauth2.HTTPClient that follows no redirect: a 307 or
// 308 would re-send the refresh token and the Basic credential to wherever it points.
func withoutRedirects(ctx context.Context) context.Context {
	hc := http.DefaultClient
	if own, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok && own != nil {
		hc = own
	}
	refusing := *hc
	refusing.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return context.WithValue(ctx, oauth2.HTTPClient, &refusing)
}

// renewMargin is how long before tok's expiry it is renewed: a minute, or a quarter of its lifetime
// (expires_in) if less, so that a short-lived token is not renewed on every call.
func renewMargin(tok *oauth2.Token) time.Duration {
	if tok.ExpiresIn > 0 {
		return min(maxRenewMargin, time.Duration(tok.ExpiresIn)*time.Second/4)
	}
	return maxRenewMargin
}

// needsRenewal reports whether tok's access token is missing or expires within its margin. A token
// without an expiry lasts for ever, as in x/oauth2.
func needsRenewal(tok *oauth2.Token) bool {
	return tok.AccessToken == "" || !tok.Expiry.IsZero() && !time.Now().Add(renewMargin(tok)).Before(tok.Expiry)
}

// handedOut is a copy of tok whose Expiry is when it is to be renewed.
func handedOut(tok *oauth2.Token) *oauth2.Token {
	out := *tok
	if !out.Expiry.IsZero() {
		out.Expiry = out.Expiry.Add(-renewMargin(tok))
	}
	return &out
}

// refresher renews the stored token, called by the reuse source one call at a time.
type refresher struct {
	ctx       context.Context
	conf      *oauth2.Config
	store     TokenStore
	storeName string
	endpoint  string
	pending   *oauth2.Token // renewed but not saved: the only valid refresh token while the store holds spent
	spent     string
	refused   string // the refresh token X refused, never sent again
}

// Token locks the store, reads it, renews the token if it still needs it, saves it, and unlocks.
func (r *refresher) Token() (_ *oauth2.Token, err error) {
	unlock, err := lockWithin(r.ctx, r.store, "renewing the token in "+r.storeName)
	if err != nil {
		return nil, err
	}
	defer func() {
		if unlockErr := unlock(); unlockErr != nil && err == nil {
			err = unlockErr
		}
	}()
	stored, err := r.store.Load(r.ctx)
	if err != nil {
		return nil, err
	}
	if pending := r.pending; pending != nil && stored.RefreshToken == r.spent {
		if err := r.save(pending, r.spent); err != nil {
			return nil, err
		}
		stored = pending
	}
	r.pending, r.spent = nil, "" // saved now, or the store holds a newer login's token, which stays
	switch {
	case !needsRenewal(stored):
		return handedOut(stored), nil
	case stored.RefreshToken == "":
		return nil, fmt.Errorf("the access token in %s has expired and there is no refresh token to renew it: %w", r.storeName, ErrLoginRequired)
	case stored.RefreshToken == r.refused:
		return nil, fmt.Errorf("renewing the token in %s: its refresh token was refused before and is not sent again: %w", r.storeName, ErrLoginRequired)
	}
	// WithoutCancel: once sent, the request runs to its end (refreshLimit bounds it); cut off, it would
	// leave the store with a refresh token X has spent.
	reqCtx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), refreshLimit)
	defer cancel()
	fresh, err := r.conf.TokenSource(reqCtx, &oauth2.Token{RefreshToken: stored.RefreshToken}).Token()
	if err != nil {
		return nil, r.failure(stored, err)
	}
	// The scope is the endpoint's text, saved and shown (markread token): no secret of the exchange stays in it.
	scope, _ := cmp.Or(fresh.Extra("scope"), stored.Extra("scope")).(string)
	fresh = fresh.WithExtra(map[string]any{"scope": textsafe.Redact(scope, stored.RefreshToken, stored.AccessToken,
		fresh.RefreshToken, fresh.AccessToken, r.conf.ClientSecret, textsafe.BasicCredential(r.conf.ClientID, r.conf.ClientSecret))})
	if err := r.save(fresh, stored.RefreshToken); err != nil {
		return nil, err
	}
	return handedOut(fresh), nil
}

// save stores a renewed token even if r.ctx has ended, or keeps it for the next call to save.
func (r *refresher) save(tok *oauth2.Token, spent string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), saveLimit)
	defer cancel()
	if err := r.store.Save(ctx, tok); err != nil {
		r.pending, r.spent = tok, spent
		return fmt.Errorf("the token was renewed but could not be saved (the next call tries again): %w", err)
	}
	return nil
}

// failure describes a failed renewal in one line, with the secrets the request carried replaced; it
// holds none of x/oauth2's error, which quotes the endpoint's whole answer.
func (r *refresher) failure(stored *oauth2.Token, err error) error {
	// The token URL too: a gateway's key may be in its query, and a transport's error may quote it.
	secrets := []string{stored.RefreshToken, stored.AccessToken, r.conf.ClientSecret, textsafe.BasicCredential(r.conf.ClientID, r.conf.ClientSecret), r.conf.Endpoint.TokenURL}
	what := "renewing the token in " + r.storeName + ": " + r.endpoint
	retrieve, urlErr := (*oauth2.RetrieveError)(nil), (*url.Error)(nil)
	switch {
	case errors.As(err, &retrieve):
		text := fmt.Sprint(what, " answered HTTP ", retrieve.Response.StatusCode) // x/oauth2 sets Response
		if retrieve.ErrorCode != "" {
			text += " " + textsafe.OneLine(textsafe.Redact(retrieve.ErrorCode, secrets...))
		}
		switch refused := refusal(retrieve); refused {
		case ErrLoginRequired:
			r.refused = stored.RefreshToken
			return fmt.Errorf("%s: the refresh token is spent or revoked: %w", text, refused)
		case ErrClientRefused:
			return fmt.Errorf("%s: %w", text, refused)
		}
		return errors.New(text)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s did not answer within %v; try again later: %w", what, refreshLimit, context.DeadlineExceeded)
	case errors.As(err, &urlErr): // its text quotes the whole token URL
		err = urlErr.Err
	}
	return fmt.Errorf("%s: %s", what, textsafe.OneLine(textsafe.Redact(err.Error(), secrets...)))
}
