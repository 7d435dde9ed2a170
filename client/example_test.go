package client_test

import (
	"context"
	"fmt"
	"log"

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
