// Command misbehave is a protoc plugin for the sandbox tests: its
// parameter says what to do (loop, alloc, open, garbage, exit, echo).
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/pluginpb"
)

var sink [][]byte

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		os.Exit(10)
	}
	req := new(pluginpb.CodeGeneratorRequest)
	if err := proto.Unmarshal(in, req); err != nil {
		os.Exit(11)
	}
	var report []string
	switch req.GetParameter() {
	case "loop":
		for {
		}
	case "alloc":
		for {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			sink = append(sink, b)
		}
	case "open":
		for _, p := range []string{"/etc/passwd", "go.mod", "/", "."} {
			_, err := os.ReadFile(p)
			report = append(report, fmt.Sprintf("read %s: %v", p, err != nil))
		}
		_, err := os.Create("/tmp/packyard-sandbox-escape")
		report = append(report, fmt.Sprintf("create: %v", err != nil))
		_, err = net.Dial("tcp", "127.0.0.1:80")
		report = append(report, fmt.Sprintf("dial: %v", err != nil))
		report = append(report, fmt.Sprintf("env: %d", len(os.Environ())))
		report = append(report, fmt.Sprintf("year: %d", time.Now().Year()))
	case "garbage":
		os.Stdout.Write([]byte{0xff, 0xff, 0xff, 0xff})
		return
	case "exit":
		fmt.Fprintln(os.Stderr, "giving up")
		os.Exit(3)
	}
	report = append(report, "files: "+strings.Join(req.GetFileToGenerate(), ","))
	res := &pluginpb.CodeGeneratorResponse{File: []*pluginpb.CodeGeneratorResponse_File{{
		Name: proto.String("report.txt"), Content: proto.String(strings.Join(report, "\n") + "\n"),
	}}}
	out, _ := proto.Marshal(res)
	os.Stdout.Write(out)
}
