package apitest_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/dghubble/oauth1"
	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/api"
	"github.com/xchat-go/markread/api/apitest"
)

// Log in as markread login does, with x/oauth2's own client, playing the browser: the fake user approves
// at once and the authorization page redirects to the app with a code, which the app exchanges.
func ExampleWithOAuthClient() {
	const redirect = "http://127.0.0.1:8080/callback"
	srv := apitest.NewServer(apitest.WithOAuthClient("my-app", "", redirect))
	defer srv.Close()

	conf := &oauth2.Config{
		ClientID:    "my-app",
		RedirectURL: redirect,
		Scopes:      []string{"users.read", "dm.write", "tweet.read", "offline.access"},
		Endpoint: oauth2.Endpoint{
			AuthURL:   srv.URL + apitest.AuthorizePath,
			TokenURL:  srv.URL + apitest.TokenPath,
			AuthStyle: oauth2.AuthStyleInParams, // a public client
		},
	}
	verifier := oauth2.GenerateVerifier()
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(conf.AuthCodeURL("some-state", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	callback, err := resp.Location()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("state:", callback.Query().Get("state"))

	tok, err := conf.Exchange(context.Background(), callback.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("scope:", tok.Extra("scope"))
	fmt.Println("refresh token:", tok.RefreshToken != "")

	client, err := api.NewClient(api.WithBaseURL(srv.URL), api.WithTokenSource(conf.TokenSource(context.Background(), tok)))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := client.MarkConversationRead(context.Background(), "g1940387460021112832", "7"); err != nil {
		log.Fatal(err)
	}
	fmt.Println("marked by:", srv.Marks()[0].User)
	// Output:
	// state: some-state
	// scope: users.read dm.write tweet.read offline.access
	// refresh token: true
	// marked by: apitest-user
}

// Test a token source's refresh without logging in: IssueToken hands out a token as if the user had just
// logged in, and the server counts the refreshes. The in-process Transport needs no socket.
func ExampleHandler_IssueToken() {
	h := apitest.NewHandler(apitest.WithOAuthClient("my-app", "", "http://127.0.0.1:8080/callback"))
	tok, err := h.IssueToken("my-app")
	if err != nil {
		log.Fatal(err)
	}
	conf := &oauth2.Config{ClientID: "my-app", Endpoint: oauth2.Endpoint{TokenURL: "http://127.0.0.1" + apitest.TokenPath, AuthStyle: oauth2.AuthStyleInParams}}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: h.Transport()})

	tok.Expiry = time.Now().Add(-time.Second) // as if two hours had passed
	fresh, err := conf.TokenSource(ctx, tok).Token()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("refreshes:", h.RefreshRequests())
	fmt.Println("rotated:", fresh.AccessToken != tok.AccessToken, fresh.RefreshToken != tok.RefreshToken)

	// The old refresh token was single use: reusing it is what breaks bots that refresh in two places.
	_, err = conf.TokenSource(ctx, tok).Token()
	var refused *oauth2.RetrieveError
	if errors.As(err, &refused) {
		fmt.Println("reuse:", refused.ErrorCode, "refreshes:", h.RefreshRequests())
	}
	// Output:
	// refreshes: 1
	// rotated: true true
	// reuse: invalid_grant refreshes: 2
}

// Requests signed with OAuth 1.0a (here by the dghubble/oauth1 library) authenticate as the access
// token's user, whose read state the access token reads back.
func ExampleWithOAuth1() {
	srv := apitest.NewServer(apitest.WithOAuth1("consumer-key", "consumer-secret", "123-access-token", "access-token-secret"))
	defer srv.Close()

	signed := oauth1.NewConfig("consumer-key", "consumer-secret").
		Client(context.Background(), oauth1.NewToken("123-access-token", "access-token-secret"))
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/2/chat/conversations/g1940387460021112832/read",
		strings.NewReader(`{"seen_until_sequence_id":"42"}`))
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := signed.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	seq, _ := srv.ReadState("123-access-token", "g1940387460021112832")
	fmt.Println(resp.Status, "read up to:", seq)
	// Output:
	// 200 OK read up to: 42
}
