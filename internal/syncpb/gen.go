// Package syncpb holds the generated code of the portico.sync.v1 gRPC service.
package syncpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative sync.proto

// SecretKey is the gRPC metadata key that carries a frontend's secret.
const SecretKey = "x-portico-secret"
