package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/zanlabs/zan/client"
)

// Like a post and read its count, against `zan serve --dev`.
func Example() {
	ctx := context.Background()
	c := client.New("http://127.0.0.1:8080")
	code, err := c.SendCode(ctx, "13800138000") // the dev code, under serve --dev
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Login(ctx, "13800138000", code); err != nil {
		log.Fatal(err)
	}
	if _, err := c.Like(ctx, "blog", 42); err != nil {
		log.Fatal(err)
	}
	l, err := c.GetLikes(ctx, "blog", 42)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("blog 42 has", l.Count, "likes")
}

// Follow a post's count live: its count at once, then every change.
func ExampleClient_Stream() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := client.New("http://127.0.0.1:8080")
	for n, err := range c.Stream(ctx, []client.Target{{Type: "blog", ID: 42}}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("blog 42 now has", n.Count, "likes")
	}
}

// Order a voucher and tell the answers of a flash sale apart.
func ExampleClient_Order() {
	ctx := context.Background()
	c := client.New("http://127.0.0.1:8080", client.WithToken("a session token"))
	id, err := c.Order(ctx, 7)
	switch {
	case errors.Is(err, client.ErrSoldOut):
		fmt.Println("too late: sold out")
	case errors.Is(err, client.ErrConflict):
		fmt.Println("you have one already")
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println("won; order", id, "is being written")
	}
}
