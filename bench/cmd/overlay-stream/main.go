// Command overlay-stream measures the OpenZiti data path alone, with no HTTP
// and no Portico in it: one hosting and one dialing SDK context on a running
// network stream bulk data from the host to the dialer, over one or several
// circuits at once, and it reports MB/s and the pauses between two reads.
// bench/README.md ("Overlay data path") shows how issue 7 used it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"runtime/pprof"
	"sort"
	"sync"
	"time"

	"github.com/openziti/sdk-golang/ziti"

	"github.com/porticoproxy/portico/controller/zitiauto"
	"github.com/porticoproxy/portico/internal/zitiident"
)

func main() {
	mgmt := flag.String("mgmt", "", "management API URL of a running network (admin/admin), such as https://127.0.0.1:1280")
	size := flag.Int64("size", 200e6, "bytes per stream")
	streams := flag.Int("streams", 1, "parallel streams")
	rounds := flag.Int("rounds", 3, "rounds")
	chunk := flag.Int("chunk", 64<<10, "host write size")
	flowControl := flag.Bool("sdk-flow-control", false, "SDK-side xgress flow control")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the streaming here")
	flag.Parse()
	ctx := context.Background()
	admin, err := zitiauto.New(zitiauto.Config{ManagementURLs: []string{*mgmt}, Username: "admin", Password: "admin"})
	check(err)
	check(admin.EnsureBaseline(ctx))
	suffix := fmt.Sprint(time.Now().UnixNano())
	host := enroll(ctx, admin, "host-"+suffix)
	dial := enroll(ctx, admin, "dial-"+suffix)
	svc := "stream" + suffix
	_, err = admin.CreateShareService(ctx, svc, []string{"#all"}, []string{"#all"})
	check(err)

	ln, err := zitiident.Listen(ctx, host, svc, "", nil)
	check(err)
	go func() {
		buf := make([]byte, *chunk)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				left := *size
				for left > 0 {
					n := int64(len(buf))
					if n > left {
						n = left
					}
					if _, err := c.Write(buf[:n]); err != nil {
						log.Print("write: ", err)
						return
					}
					left -= n
				}
				time.Sleep(time.Second)
			}()
		}
	}()

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	opts := &ziti.DialOptions{ConnectTimeout: 10 * time.Second, SdkFlowControl: flowControl}
	for r := 0; r < *rounds; r++ {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var gaps []time.Duration
		start := time.Now()
		for s := 0; s < *streams; s++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := zitiident.DialWithOptions(ctx, dial, svc, opts, nil)
				check(err)
				defer c.Close()
				buf := make([]byte, 256<<10)
				var got int64
				last := time.Now()
				var local []time.Duration
				for got < *size {
					n, err := c.Read(buf)
					now := time.Now()
					if n > 0 {
						local = append(local, now.Sub(last))
						last = now
					}
					got += int64(n)
					if err == io.EOF {
						break
					}
					check(err)
				}
				if got != *size {
					log.Fatalf("got %d of %d", got, *size)
				}
				mu.Lock()
				gaps = append(gaps, local...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		el := time.Since(start)
		sort.Slice(gaps, func(i, j int) bool { return gaps[i] > gaps[j] })
		over20 := 0
		for _, g := range gaps {
			if g > 20*time.Millisecond {
				over20++
			}
		}
		top := gaps
		if len(top) > 5 {
			top = top[:5]
		}
		fmt.Printf("round %d: %d x %d MB in %v = %.1f MB/s; reads %d, gaps>20ms %d, longest %v\n",
			r, *streams, *size/1e6, el.Round(time.Millisecond), float64(*size)*float64(*streams)/1e6/el.Seconds(), len(gaps), over20, top)
	}
}

func enroll(ctx context.Context, admin *zitiauto.Client, name string) ziti.Context {
	_, jwt, err := admin.CreateIdentity(ctx, name, []string{"bench"}, nil)
	check(err)
	b, err := zitiident.Enroll(jwt)
	check(err)
	zc, err := zitiident.NewContextFromJSON(b)
	check(err)
	check(zc.Authenticate())
	return zc
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
