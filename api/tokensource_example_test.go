package api_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/oauth2"

	"github.com/xchat-go/markread/api"
	"github.com/xchat-go/markread/api/apitest"
)

// A bot uses the token `markread login` stored, and renews it as it expires: X's refresh tokens are
// single use, so the rotated one is saved before the new access token is used, and any number of the
// machine's processes may share the file. Here the fake X from package apitest plays X.
func ExampleNewFileTokenSource() {
	x := apitest.NewServer(apitest.WithOAuthClient("my-app", "", "http://localhost:8080/callback"))
	defer x.Close()
	dir, err := os.MkdirTemp("", "markread-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = os.RemoveAll(dir) }()
	path := filepath.Join(dir, "token.json") // markread login's default: os.UserConfigDir()/markread/token.json

	// What markread login did, two hours ago: its access token has expired since.
	tok, err := x.IssueToken("my-app")
	if err != nil {
		fmt.Println(err)
		return
	}
	tok.Expiry = time.Now().Add(-time.Minute)
	store, err := api.NewFileTokenStore(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := store.Save(context.Background(), tok); err != nil {
		fmt.Println(err)
		return
	}

	conf := &oauth2.Config{
		ClientID: "my-app", // a public client; a confidential one also sets ClientSecret
		// X's are https://x.com/i/oauth2/authorize and https://api.x.com/2/oauth2/token.
		Endpoint: oauth2.Endpoint{AuthURL: x.URL + apitest.AuthorizePath, TokenURL: x.URL + apitest.TokenPath},
	}
	ts, err := api.NewFileTokenSource(context.Background(), conf, path)
	if err != nil {
		fmt.Println(err) // no token stored: errors.Is(err, api.ErrLoginRequired)
		return
	}
	client, err := api.NewClient(api.WithBaseURL(x.URL), api.WithTokenSource(ts))
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := client.MarkConversationRead(context.Background(), "g1940387460021112832", "1940387512345678901"); err != nil {
		fmt.Println(err)
		return
	}
	saved, err := store.Load(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("refresh requests:", x.RefreshRequests())
	fmt.Println("rotated refresh token saved:", saved.RefreshToken != tok.RefreshToken)
	fmt.Println("scope:", saved.Extra("scope"))
	// Output:
	// refresh requests: 1
	// rotated refresh token saved: true
	// scope: users.read dm.write tweet.read offline.access
}
