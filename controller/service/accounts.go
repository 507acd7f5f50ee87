package service

// Accounts and the namespaces they may share in.

import (
	"context"
	"net/mail"
	"strings"

	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/controller/token"
)

// CreateAccount makes an account for email and returns it with its token,
// which only its hash is kept of.
func (s *Service) CreateAccount(ctx context.Context, email string) (store.Account, string, error) {
	if err := checkEmail(email); err != nil {
		return store.Account{}, "", err
	}
	acct := store.Account{ID: token.New(12), Email: email, CreatedAt: now()}
	tok := token.New(32)
	if err := s.store.CreateAccount(ctx, acct, token.Hash(tok)); err != nil {
		return store.Account{}, "", err
	}
	return acct, tok, nil
}

// checkEmail refuses what is not a bare email address.
func checkEmail(email string) error {
	if addr, err := mail.ParseAddress(email); err != nil || addr.Address != email {
		return invalid("email " + quote(email) + " is not an email address")
	}
	return nil
}

// CreateNamespace makes a namespace; an open one takes shares from every
// account, a closed one from the accounts granted it.
func (s *Service) CreateNamespace(ctx context.Context, name string, open bool) (store.Namespace, error) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if err := validDNSName(name); err != nil {
		return store.Namespace{}, invalid("namespace: " + err.Error())
	}
	ns := store.Namespace{ID: token.New(12), Name: name, Open: open, CreatedAt: now()}
	return ns, s.store.CreateNamespace(ctx, ns)
}

// GrantNamespace lets the account with email share in a closed namespace,
// and returns the namespace's name as stored.
func (s *Service) GrantNamespace(ctx context.Context, namespace, email string) (string, error) {
	if email == "" {
		return "", invalid("email is required: the account to grant the namespace to")
	}
	namespace = strings.ToLower(namespace)
	return namespace, s.store.GrantNamespace(ctx, namespace, email)
}

// namespaceFor resolves the namespace a share asks for (with none named, the
// only one the account may use) and checks that the account may use it.
func (s *Service) namespaceFor(ctx context.Context, name, accountID string) (store.Namespace, error) {
	if name != "" {
		ns, err := s.store.NamespaceByName(ctx, strings.ToLower(name))
		if err != nil {
			return ns, err
		}
		ok, err := s.store.MayUseNamespace(ctx, ns, accountID)
		if err != nil {
			return ns, err
		}
		if !ok {
			return ns, forbidden("namespace " + ns.Name + " is closed and your account has not been granted it")
		}
		return ns, nil
	}
	usable, err := s.usableNamespaces(ctx, accountID)
	if err != nil {
		return store.Namespace{}, err
	}
	switch len(usable) {
	case 1:
		return usable[0], nil
	case 0:
		return store.Namespace{}, forbidden("your account may use no namespace yet; ask the admin for one")
	}
	names := make([]string, len(usable))
	for i, ns := range usable {
		names[i] = ns.Name
	}
	return store.Namespace{}, invalid("namespace is required: you may use " + strings.Join(names, ", "))
}

// anyNamespace is a namespace the account may use, for a private share: it
// has no host name, and needs a namespace only for its record.
func (s *Service) anyNamespace(ctx context.Context, accountID string) (store.Namespace, error) {
	usable, err := s.usableNamespaces(ctx, accountID)
	if err != nil {
		return store.Namespace{}, err
	}
	if len(usable) == 0 {
		return store.Namespace{}, forbidden("the controller has no namespace your account may use")
	}
	return usable[0], nil
}

func (s *Service) usableNamespaces(ctx context.Context, accountID string) ([]store.Namespace, error) {
	nss, err := s.store.Namespaces(ctx)
	if err != nil {
		return nil, err
	}
	var usable []store.Namespace
	for _, ns := range nss {
		ok, err := s.store.MayUseNamespace(ctx, ns, accountID)
		if err != nil {
			return nil, err
		}
		if ok {
			usable = append(usable, ns)
		}
	}
	return usable, nil
}
