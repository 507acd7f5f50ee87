//go:generate protoc -I ./ ./edge_client.proto --go_out=paths=source_relative:./

package edge_client_pb

// Here to provide the go:generate line above
