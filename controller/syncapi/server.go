package syncapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/controller/token"
	"github.com/porticoproxy/portico/internal/mapping"
	"github.com/porticoproxy/portico/internal/syncpb"
)

// defaultPage bounds one Snapshot chunk and one Changes answer, by count and
// by bytes, so that no tenant's policies can make a message larger than a
// frontend accepts; the client asks again for more.
var defaultPage = store.Page{Entries: 10000, Bytes: syncpb.PageBytes}

// Store is what the sync service reads.
type Store interface {
	Frontend(ctx context.Context, id string) (store.Frontend, error)
	Snapshot(ctx context.Context, frontendID string, page store.Page, fn func(int64, []mapping.Mapping) error) error
	Changes(ctx context.Context, frontendID string, after int64, page store.Page) ([]mapping.Change, int64, bool, error)
	HeartbeatInstance(ctx context.Context, in store.Instance) error
}

// Server implements syncpb.SyncServer.
type Server struct {
	syncpb.UnimplementedSyncServer
	store  Store
	hub    *Hub
	logger *zap.Logger
	self   string     // this controller's id, recorded with instance heartbeats
	page   store.Page // bounds each Snapshot chunk and Changes answer

	// Warnings, if set, says what is wrong with the OpenZiti network for Portico; every
	// heartbeat's answer carries it, so frontends can log it.
	Warnings func(ctx context.Context) []string
}

// NewServer returns the sync service of controller self over st that
// streams what hub publishes.
func NewServer(st Store, hub *Hub, self string, logger *zap.Logger) *Server {
	return &Server{store: st, hub: hub, self: self, logger: logger, page: defaultPage}
}

// ServerOptions are the gRPC options the sync service needs: its message
// size bound.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.MaxRecvMsgSize(syncpb.MaxMessageBytes), grpc.MaxSendMsgSize(syncpb.MaxMessageBytes)}
}

// Register adds the service to a gRPC server.
func (s *Server) Register(g *grpc.Server) { syncpb.RegisterSyncServer(g, s) }

// authenticate checks the caller's secret for the frontend it names.
func (s *Server) authenticate(ctx context.Context, frontend string) error {
	var secret string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(syncpb.SecretKey); len(v) == 1 {
			secret = v[0]
		}
	}
	if frontend == "" || secret == "" {
		return status.Error(codes.Unauthenticated, "frontend token and secret are required")
	}
	f, err := s.store.Frontend(ctx, frontend)
	if errors.Is(err, store.ErrNotFound) {
		return status.Error(codes.Unauthenticated, "unknown frontend or wrong secret")
	}
	if err != nil {
		return status.Errorf(codes.Unavailable, "reading frontend: %v", err)
	}
	if subtle.ConstantTimeCompare([]byte(token.Hash(secret)), []byte(f.SecretHash)) != 1 {
		return status.Error(codes.Unauthenticated, "unknown frontend or wrong secret")
	}
	return nil
}

// Snapshot streams the frontend's revision and mappings.
func (s *Server) Snapshot(req *syncpb.SnapshotRequest, stream grpc.ServerStreamingServer[syncpb.SnapshotChunk]) error {
	ctx := stream.Context()
	if err := s.authenticate(ctx, req.Frontend); err != nil {
		return err
	}
	var pending *syncpb.SnapshotChunk
	err := s.store.Snapshot(ctx, req.Frontend, s.page, func(rev int64, ms []mapping.Mapping) error {
		// Hold one chunk back so that the final one can carry last=true.
		if pending != nil {
			if err := stream.Send(pending); err != nil {
				return err
			}
		}
		pending = &syncpb.SnapshotChunk{Revision: rev, Mappings: syncpb.FromMappings(ms)}
		return nil
	})
	if err != nil {
		return status.Errorf(codes.Unavailable, "reading snapshot: %v", err)
	}
	pending.Last = true
	return stream.Send(pending)
}

// Changes returns the journal after a revision.
func (s *Server) Changes(ctx context.Context, req *syncpb.ChangesRequest) (*syncpb.ChangesResponse, error) {
	if err := s.authenticate(ctx, req.Frontend); err != nil {
		return nil, err
	}
	changes, cur, tooOld, err := s.store.Changes(ctx, req.Frontend, req.After, s.page)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "reading journal: %v", err)
	}
	resp := &syncpb.ChangesResponse{TooOld: tooOld, Revision: cur, Changes: make([]*syncpb.Change, len(changes))}
	for i, c := range changes {
		resp.Changes[i] = syncpb.FromChange(c)
	}
	return resp, nil
}

// Watch streams every change after req.After: first what the journal holds,
// then what the hub publishes. A client that is too far behind gets
// FailedPrecondition and must take a snapshot.
func (s *Server) Watch(req *syncpb.WatchRequest, stream grpc.ServerStreamingServer[syncpb.Change]) error {
	ctx := stream.Context()
	if err := s.authenticate(ctx, req.Frontend); err != nil {
		return err
	}
	// Subscribe before reading the journal, so nothing committed in between is missed.
	sub := s.hub.Subscribe(req.Frontend)
	defer sub.Close()

	sent := req.After
	catchUp := func() error {
		for {
			changes, cur, tooOld, err := s.store.Changes(ctx, req.Frontend, sent, s.page)
			if err != nil {
				return status.Errorf(codes.Unavailable, "reading journal: %v", err)
			}
			if tooOld {
				return status.Error(codes.FailedPrecondition, "revision too old: take a snapshot")
			}
			for _, c := range changes {
				if err := stream.Send(syncpb.FromChange(c)); err != nil {
					return err
				}
				sent = c.Revision
			}
			if sent >= cur || len(changes) == 0 {
				return nil
			}
		}
	}
	if err := catchUp(); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sub.Lost:
			return status.Error(codes.ResourceExhausted, "watch fell behind: reconnect")
		case c := <-sub.C:
			switch {
			case c.Revision <= sent:
				continue
			case c.Revision == sent+1:
				if err := stream.Send(syncpb.FromChange(c)); err != nil {
					return err
				}
				sent = c.Revision
			default: // another transaction's change has not been published yet
				if err := catchUp(); err != nil {
					return err
				}
			}
		}
	}
}

// Heartbeat records a live frontend instance and answers with the
// frontend's current revision.
func (s *Server) Heartbeat(ctx context.Context, req *syncpb.HeartbeatRequest) (*syncpb.HeartbeatResponse, error) {
	if err := s.authenticate(ctx, req.Frontend); err != nil {
		return nil, err
	}
	if req.Instance == "" {
		return nil, status.Error(codes.InvalidArgument, "instance id is required")
	}
	err := s.store.HeartbeatInstance(ctx, store.Instance{
		ID: req.Instance, Frontend: req.Frontend, AppliedRevision: req.AppliedRevision, Mappings: req.Mappings,
		Version: req.Version, Controller: s.self, HeartbeatAt: time.Now().UTC(),
	})
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "recording heartbeat: %v", err)
	}
	f, err := s.store.Frontend(ctx, req.Frontend)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "reading frontend: %v", err)
	}
	resp := &syncpb.HeartbeatResponse{Revision: f.Revision}
	if s.Warnings != nil {
		resp.Warnings = s.Warnings(ctx)
	}
	return resp, nil
}
