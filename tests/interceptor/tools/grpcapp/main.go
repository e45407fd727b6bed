// grpcapp: a Go gRPC server and client (google.golang.org/grpc) for the real-traffic tests.
//
//	grpcapp server PORT          service acme.v1.Users over h2c: Get (unary), Fail (unary, an error:
//	                             a trailers-only response), Watch (server streaming), Upload
//	                             (client streaming); messages are protobuf ListValue (no codegen).
//	grpcapp h2c PORT             net/http over cleartext HTTP/2 (golang.org/x/net/http2/h2c: prior
//	                             knowledge and Upgrade: h2c): POST echoes the body, GET /users JSON.
//	grpcapp client HOST PORT N   N Get calls (every other one gzip-compressed), one Fail, one Watch
//	                             of 5 messages, one Upload of 4; prints the truth as JSON: path, the
//	                             marshaled messages each way (base64), status code and message.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

type call struct {
	Path      string   `json:"path"`
	Requests  []string `json:"requests"`
	Responses []string `json:"responses"`
	Code      int      `json:"code"`
	Message   string   `json:"message"`
}

func list(values ...any) *structpb.ListValue {
	l, err := structpb.NewList(values)
	if err != nil {
		panic(err)
	}
	return l
}

func b64(m proto.Message) string {
	raw, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(raw)
}

func getHandler(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	in := new(structpb.ListValue)
	if err := dec(in); err != nil {
		return nil, err
	}
	return list(float64(7), in.Values[0].GetStringValue(), in.Values[1].GetStringValue(), "ok"), nil
}

func failHandler(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	in := new(structpb.ListValue)
	if err := dec(in); err != nil {
		return nil, err
	}
	return nil, status.Error(codes.PermissionDenied, "no access for you")
}

func watchHandler(_ any, stream grpc.ServerStream) error {
	in := new(structpb.ListValue)
	if err := stream.RecvMsg(in); err != nil {
		return err
	}
	for i := 0; i < int(in.Values[0].GetNumberValue()); i++ {
		if err := stream.SendMsg(list(fmt.Sprintf("user%d@example.com", i), float64(i))); err != nil {
			return err
		}
	}
	return nil
}

func uploadHandler(_ any, stream grpc.ServerStream) error {
	n := 0
	for {
		in := new(structpb.ListValue)
		err := stream.RecvMsg(in)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		n++
	}
	return stream.SendMsg(list(float64(n), "received"))
}

var desc = grpc.ServiceDesc{
	ServiceName: "acme.v1.Users",
	HandlerType: (*any)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Get", Handler: getHandler}, {MethodName: "Fail", Handler: failHandler}},
	Streams: []grpc.StreamDesc{
		{StreamName: "Watch", Handler: watchHandler, ServerStreams: true},
		{StreamName: "Upload", Handler: uploadHandler, ClientStreams: true},
	},
}

func server(port string) {
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		panic(err)
	}
	s := grpc.NewServer()
	s.RegisterService(&desc, struct{}{})
	if err := s.Serve(ln); err != nil {
		panic(err)
	}
}

func h2cServer(port string) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == "POST" {
			body, _ := io.ReadAll(r.Body)
			w.Write(body)
			return
		}
		fmt.Fprintf(w, `{"path":%q,"proto":%q,"users":[{"email":"go@example.com"}]}`, r.URL.Path, r.Proto)
	})
	srv := &http.Server{Addr: ":" + port, Handler: h2c.NewHandler(handler, &http2.Server{})}
	if err := srv.ListenAndServe(); err != nil {
		panic(err)
	}
}

func record(path string, err error, reqs, resps []proto.Message) call {
	c := call{Path: path, Requests: []string{}, Responses: []string{}}
	for _, m := range reqs {
		c.Requests = append(c.Requests, b64(m))
	}
	for _, m := range resps {
		c.Responses = append(c.Responses, b64(m))
	}
	st := status.Convert(err)
	c.Code, c.Message = int(st.Code()), st.Message()
	return c
}

func client(host, port string, n int) {
	conn, err := grpc.NewClient(net.JoinHostPort(host, port), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	ctx := context.Background()
	var calls []call
	for i := 0; i < n; i++ {
		in, out := list(fmt.Sprintf("User %d", i), fmt.Sprintf("user%d@example.com", i)), new(structpb.ListValue)
		var opts []grpc.CallOption
		if i%2 == 1 {
			opts = append(opts, grpc.UseCompressor(gzip.Name))
		}
		err := conn.Invoke(ctx, "/acme.v1.Users/Get", in, out, opts...)
		if err != nil {
			panic(err)
		}
		calls = append(calls, record("/acme.v1.Users/Get", nil, []proto.Message{in}, []proto.Message{out}))
	}
	in := list("secret@example.com")
	err = conn.Invoke(ctx, "/acme.v1.Users/Fail", in, new(structpb.ListValue))
	calls = append(calls, record("/acme.v1.Users/Fail", err, []proto.Message{in}, nil))

	watch, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/acme.v1.Users/Watch")
	if err != nil {
		panic(err)
	}
	in = list(float64(5))
	if err := watch.SendMsg(in); err != nil {
		panic(err)
	}
	watch.CloseSend()
	var got []proto.Message
	for {
		m := new(structpb.ListValue)
		if err := watch.RecvMsg(m); err != nil {
			if err != io.EOF {
				panic(err)
			}
			break
		}
		got = append(got, m)
	}
	calls = append(calls, record("/acme.v1.Users/Watch", nil, []proto.Message{in}, got))

	up, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true}, "/acme.v1.Users/Upload")
	if err != nil {
		panic(err)
	}
	var sent []proto.Message
	for i := 0; i < 4; i++ {
		m := list(fmt.Sprintf("part %d", i), fmt.Sprintf("+1415555%04d", i))
		if err := up.SendMsg(m); err != nil {
			panic(err)
		}
		sent = append(sent, m)
	}
	up.CloseSend()
	out := new(structpb.ListValue)
	if err := up.RecvMsg(out); err != nil {
		panic(err)
	}
	calls = append(calls, record("/acme.v1.Users/Upload", nil, sent, []proto.Message{out}))
	json.NewEncoder(os.Stdout).Encode(calls)
}

func main() {
	switch {
	case len(os.Args) == 3 && os.Args[1] == "server":
		server(os.Args[2])
	case len(os.Args) == 3 && os.Args[1] == "h2c":
		h2cServer(os.Args[2])
	case len(os.Args) == 5 && os.Args[1] == "client":
		n, _ := strconv.Atoi(os.Args[4])
		client(os.Args[2], os.Args[3], n)
	default:
		fmt.Fprintln(os.Stderr, "usage: grpcapp server PORT | grpcapp h2c PORT | grpcapp client HOST PORT N")
		os.Exit(2)
	}
}
