package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"github.com/xchat-go/markread/internal/textsafe"
)

// Timing of a store's token source.
const (
	// refreshMargin is how long before its expiry an access token is renewed: enough for a request that
	// takes it to reach X while it is still valid, on a clock that is a little off.
	refreshMargin = time.Minute
	// lockWait bounds the wait for another process's refresh: one takes a second or two, and at most
	// refreshLimit + saveLimit; longer means that process is stuck.
	lockWait = time.Minute
	// refreshLimit bounds a refresh's request to the token endpoint, which answers in a second or two,
	// so that an endpoint that never answers does not keep the lock for ever.
	refreshLimit = 30 * time.Second
	// saveLimit bounds saving a renewed token: a file takes milliseconds, a shared store a round trip.
	saveLimit = 10 * time.Second
)

// NewFileTokenSource returns a token source for the token in the file at path, as `markread login`
// writes it: NewStoreTokenSource with NewFileTokenStore(path). Every process on the machine that
// refreshes the token through such a source shares it safely.
func NewFileTokenSource(ctx context.Context, conf *oauth2.Config, path string) (oauth2.TokenSource, error) {
	store, err := newFileTokenStore(path)
	if err != nil {
		return nil, prefixedStore(err)
	}
	return NewStoreTokenSource(ctx, conf, store)
}

// NewStoreTokenSource returns a token source that hands out the access token kept in store while it is
// valid and renews it through conf about a minute before it expires, so that a bot survives X's
// rotating, single-use refresh tokens, restarts and concurrency:
//
//   - one refresh at a time: concurrent Token calls in the process share one refresh, and across
//     processes the store's lock is taken, then the token read again, because another process may have
//     rotated it meanwhile (a refresh held up by another process for over a minute fails, and so does
//     one whose token endpoint does not answer within 30 seconds, letting go of the lock);
//   - the rotated token is saved in the store before its access token is handed out; if saving fails,
//     the call fails and the next one saves it first (its refresh token is the only valid one now),
//     unless the store holds another token by then, a new login's, which is kept; an answer that no
//     token file could hold (over 64 KiB) is the endpoint's fault: the call fails, and nothing is saved;
//   - when no token is stored, X refuses the refresh token (invalid_grant), or the access token has
//     expired with no refresh token, the error matches errors.Is(err, ErrLoginRequired), says to log in
//     again, and the refused refresh token is never sent again: a later call reads the store again and
//     carries on with the token a new login saves.
//
// A token without an expiry is taken to last for ever, as x/oauth2 takes it, and never refreshed.
//
// The token is read once here, so that a missing or unusable token is reported at once. ctx is used for
// every refresh, as x/oauth2's Config.TokenSource uses it: its oauth2.HTTPClient value, if any, is the
// HTTP client, and once it is done, no refresh starts. A refresh whose request is on its way when ctx
// ends is not cut off, though: X rotates the refresh token as it answers, so the answer is waited for
// (30 seconds at most) and saved, or the store would be left with a spent refresh token and the next
// run would need a new login.
//
// conf's ClientID, ClientSecret and Endpoint.TokenURL are used; when conf's Endpoint.AuthStyle is left
// to be detected, the client authenticates as X requires: with HTTP Basic when conf has a client secret
// (a confidential client), else with client_id in the form (a public client), so that a single-use
// refresh token is never sent twice to find out.
//
// Errors of the source name the store's file, if it has one, and never show a token or the client
// secret, even when the token endpoint echoes them.
func NewStoreTokenSource(ctx context.Context, conf *oauth2.Config, store TokenStore) (oauth2.TokenSource, error) {
	src, err := newStoreTokenSource(ctx, conf, store)
	if err != nil {
		return nil, prefixedStore(err)
	}
	return src, nil
}

func newStoreTokenSource(ctx context.Context, conf *oauth2.Config, store TokenStore) (*storeTokenSource, error) {
	switch {
	case ctx == nil:
		return nil, errors.New("NewStoreTokenSource: nil context")
	case conf == nil:
		return nil, errors.New("NewStoreTokenSource: nil *oauth2.Config")
	case store == nil:
		return nil, errors.New("NewStoreTokenSource: nil TokenStore")
	case conf.Endpoint.TokenURL == "":
		return nil, errors.New("NewStoreTokenSource: the oauth2.Config has no Endpoint.TokenURL to refresh the token at")
	}
	confCopy := *conf // not the caller's: its AuthStyle may be set below, and it must not change later
	if confCopy.Endpoint.AuthStyle == oauth2.AuthStyleAutoDetect {
		confCopy.Endpoint.AuthStyle = oauth2.AuthStyleInParams
		if confCopy.ClientSecret != "" {
			confCopy.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
		}
	}
	tok, err := loadStored(ctx, store)
	if err != nil {
		return nil, err
	}
	s := &storeTokenSource{ctx: withoutRedirects(ctx), conf: &confCopy, store: store, current: tok}
	return s, nil
}

// withoutRedirects returns ctx with a copy of its oauth2.HTTPClient (http.DefaultClient if none) that
// follows no redirect: a 307 or 308 from the token endpoint would re-send the refresh token and the
// client's Basic credential to wherever it points. The redirect comes back as the endpoint's refusal.
func withoutRedirects(ctx context.Context) context.Context {
	hc := http.DefaultClient
	if own, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok && own != nil {
		hc = own
	}
	refusing := *hc
	refusing.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return context.WithValue(ctx, oauth2.HTTPClient, &refusing)
}

// storeTokenSource keeps one store's token and refreshes it one caller at a time.
type storeTokenSource struct {
	ctx   context.Context
	conf  *oauth2.Config
	store TokenStore
	group singleflight.Group

	mu sync.Mutex
	// current is the token last read or saved; its access token is handed out while it lasts.
	current *oauth2.Token
	// unsaved is a token refreshed but not yet saved: its refresh token is the only valid one left, as
	// long as the store holds spent, the refresh token its refresh used up.
	unsaved *oauth2.Token
	spent   string
	// refused is the refresh token X refused: it is never sent again.
	refused string
}

// Format prints the source without its tokens or the client secret, whatever the verb.
func (s *storeTokenSource) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "api.storeTokenSource{store: %s}", textsafe.OneLine(s.storeName()))
}

// Token returns a valid access token, refreshing it first when it expires within about a minute.
func (s *storeTokenSource) Token() (*oauth2.Token, error) {
	if tok := s.valid(); tok != nil {
		return tok, nil
	}
	// One refresh at a time in the process; every caller waiting meanwhile gets its outcome.
	result, err, _ := s.group.Do("refresh", func() (any, error) { return s.refresh() })
	if err != nil {
		return nil, prefixedStore(err)
	}
	tok := *result.(*oauth2.Token) // a copy for each caller, so that none changes another's
	return &tok, nil
}

// valid returns a copy of the current token if its access token lasts beyond the margin, else nil.
func (s *storeTokenSource) valid() *oauth2.Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !lasts(s.current) {
		return nil
	}
	tok := *s.current
	return &tok
}

// lasts reports whether tok's access token is valid beyond the refresh margin. A token without an
// expiry lasts for ever, as x/oauth2 has it.
func lasts(tok *oauth2.Token) bool {
	return tok != nil && tok.AccessToken != "" &&
		(tok.Expiry.IsZero() || time.Now().Add(refreshMargin).Before(tok.Expiry))
}

// refresh renews the token under the store's lock, unless another caller or process already has.
func (s *storeTokenSource) refresh() (_ *oauth2.Token, err error) {
	if tok := s.valid(); tok != nil {
		return tok, nil // a refresh finished between this caller's check and its turn
	}
	lockCtx, cancel := context.WithTimeout(s.ctx, lockWait)
	unlock, err := s.store.Lock(lockCtx)
	cancel()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && s.ctx.Err() == nil {
			return nil, fmt.Errorf("another process has been refreshing %s for over %v; if it is stuck, stop it: %w",
				s.storeName(), lockWait, withoutPrefix(err))
		}
		return nil, withoutPrefix(err)
	}
	if unlock == nil {
		return nil, errors.New("the TokenStore broke its contract: Lock returned neither an unlock function nor an error")
	}
	defer func() {
		if unlockErr := unlock(); unlockErr != nil && err == nil {
			err = withoutPrefix(unlockErr)
		}
	}()

	stored, err := loadStored(s.ctx, s.store)
	if err != nil {
		return nil, err // nothing stored (log in), or a store that cannot be read
	}
	if lasts(stored) {
		return s.adopt(stored), nil // another process renewed it, or a new login stored it
	}
	s.mu.Lock()
	unsaved, spent, refused := s.unsaved, s.spent, s.refused
	s.mu.Unlock()
	if unsaved != nil && stored.RefreshToken == spent {
		// The store still holds the refresh token this source spent: only the unsaved one is valid.
		if _, err := s.save(unsaved, spent); err != nil {
			return nil, err
		}
		if lasts(unsaved) {
			return unsaved, nil
		}
		stored = unsaved
	} else if unsaved != nil {
		// The store holds another token now, a new login's, say: the unsaved one must not undo it.
		s.adopt(stored)
	}
	if stored.RefreshToken == "" {
		return nil, fmt.Errorf("the access token in %s has expired and there is no refresh token to renew it: %w",
			s.storeName(), ErrLoginRequired)
	}
	if stored.RefreshToken == refused {
		return nil, fmt.Errorf("renewing the token in %s: its refresh token was refused before (invalid_grant) and is not sent again: %w",
			s.storeName(), ErrLoginRequired)
	}

	// Once sent, the request runs to its end even if s.ctx ends meanwhile (its values, the
	// oauth2.HTTPClient, are kept): X rotates the refresh token as it answers, so an answer cut off would
	// leave only a spent one. refreshLimit bounds it instead.
	requestCtx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), refreshLimit)
	defer cancel()
	// x/oauth2 refreshes a token that has no access token, whatever its expiry.
	fresh, err := s.conf.TokenSource(requestCtx, &oauth2.Token{RefreshToken: stored.RefreshToken}).Token()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && requestCtx.Err() != nil {
			return nil, &refreshError{text: fmt.Sprintf("renewing the token in %s: %s did not answer within %v; try again later",
				s.storeName(), s.endpointName(), refreshLimit), cause: err}
		}
		return nil, s.refreshFailure(stored, err)
	}
	if fresh.Extra("scope") == nil && stored.Extra("scope") != nil {
		fresh = fresh.WithExtra(map[string]any{"scope": stored.Extra("scope")})
	}
	// An answer no token file could hold is the endpoint's fault (X's tokens are a few hundred bytes):
	// saved, it would stop every later Load; kept to be saved later, it would fail every call.
	if _, err := encodeTokenFile(fresh); err != nil {
		return nil, fmt.Errorf("renewing the token in %s: %s answered with a token that cannot be kept (%w); it is not used, and nothing was saved",
			s.storeName(), s.endpointName(), err)
	}
	return s.save(fresh, stored.RefreshToken)
}

// loadStored reads store's token, holding the store to its contract: a store of the caller's that returns
// no token and no error would otherwise panic the source.
func loadStored(ctx context.Context, store TokenStore) (*oauth2.Token, error) {
	tok, err := store.Load(ctx)
	if err != nil {
		return nil, withoutPrefix(err)
	}
	if tok == nil {
		return nil, errors.New("the TokenStore broke its contract: Load returned neither a token nor an error " +
			"(when none is stored, its error must match ErrLoginRequired)")
	}
	return tok, nil
}

// adopt makes tok the current token, forgetting an unsaved one: the store holds a newer token.
func (s *storeTokenSource) adopt(tok *oauth2.Token) *oauth2.Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.current, s.unsaved, s.spent = tok, nil, ""
	return tok
}

// save stores a refreshed token before its access token is handed out, even if s.ctx has ended: its
// refresh token is now the only one X accepts. When the store fails, the token is kept to be saved on
// the next call, with spent, the refresh token the refresh used up, which tells whether the store has
// moved on meanwhile.
func (s *storeTokenSource) save(tok *oauth2.Token, spent string) (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), saveLimit)
	defer cancel()
	if err := s.store.Save(ctx, tok); err != nil {
		s.mu.Lock()
		s.unsaved, s.spent = tok, spent
		s.mu.Unlock()
		return nil, fmt.Errorf("the token was renewed but could not be saved (saving is tried again on the next call): %w",
			withoutPrefix(err))
	}
	return s.adopt(tok), nil
}

// refreshFailure describes a failed refresh without the token endpoint's answer, which may echo the
// refresh token or the client secret, and without the token URL, whose query may hold a credential;
// the cause stays reachable with errors.As. X's invalid_grant means the refresh token is spent or
// revoked: only a new login helps, and it is never sent again.
func (s *storeTokenSource) refreshFailure(stored *oauth2.Token, err error) error {
	secrets := scrubber{stored.RefreshToken, stored.AccessToken, s.conf.ClientSecret, basicCredential(s.conf)}
	what := "renewing the token in " + s.storeName() + ": "
	var retrieve *oauth2.RetrieveError
	if !errors.As(err, &retrieve) {
		return &refreshError{text: what + s.failureText(err), cause: err}
	}
	if retrieve.ErrorCode != "invalid_grant" {
		return &refreshError{text: what + refusalText(retrieve, secrets), cause: err}
	}
	s.mu.Lock()
	s.refused = stored.RefreshToken
	s.mu.Unlock()
	refusal := &refreshError{text: what + refusalText(retrieve, secrets) + " (the refresh token is spent or revoked)", cause: err}
	return fmt.Errorf("%w: %w", refusal, ErrLoginRequired)
}

// failureText describes a refresh the endpoint did not refuse by its kind alone. x/oauth2's errors
// quote the whole token URL (a request that failed) or part of the answer (one that is not a token),
// and a caller's transport may say anything.
func (s *storeTokenSource) failureText(err error) string {
	if urlErr := (*url.Error)(nil); errors.As(err, &urlErr) {
		return sourceFailureText(err)
	}
	return "the answer of " + s.endpointName() + " could not be read as a token; its error is withheld, as it may quote the answer"
}

// storeName names the store in errors: its file, when it has one.
func (s *storeTokenSource) storeName() string {
	if fileStore, ok := s.store.(*FileTokenStore); ok {
		return fileStore.path
	}
	return "the token store"
}

// endpointName names the token endpoint by its origin alone: its URL's user info or query may hold
// credentials.
func (s *storeTokenSource) endpointName() string {
	u, err := url.Parse(s.conf.Endpoint.TokenURL)
	if err != nil || u.Host == "" {
		return "the token endpoint"
	}
	return "the token endpoint at " + originOf(u)
}

// basicCredential is the HTTP Basic credential x/oauth2 sends for conf, as an endpoint may echo it; ""
// for a public client.
func basicCredential(conf *oauth2.Config) string {
	if conf.ClientSecret == "" {
		return ""
	}
	return base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(conf.ClientID) + ":" + url.QueryEscape(conf.ClientSecret)))
}

// refreshError is a failed refresh, its text made safe when it was made: scrubbed of the secrets the
// request carried and limited to one line.
type refreshError struct {
	text  string
	cause error
}

func (e *refreshError) Error() string { return e.text }
func (e *refreshError) Unwrap() error { return e.cause }

// Format prints the error's text whatever the verb: a %d would otherwise make fmt walk to the cause.
func (e *refreshError) Format(f fmt.State, verb rune) { formatText(f, verb, e.text) }
