package controller

// The controller's configuration file: its sections, defaults and checks.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/porticoproxy/portico/controller/token"
	"github.com/porticoproxy/portico/internal/broker"
)

// Config is the controller's configuration file.
type Config struct {
	// API is the REST API's listen address.
	API string `yaml:"api"`
	// GRPC is the sync service's listen address.
	GRPC string `yaml:"grpc"`
	// Store names the database: "sqlite:PATH".
	Store string `yaml:"store"`
	// AdminToken authorises the admin calls.
	AdminToken string `yaml:"admin_token"`
	// Ziti says how to reach the OpenZiti controller's Edge Management API.
	Ziti ZitiConfig `yaml:"ziti"`
	// ID names this controller in the cluster. Default: a random id.
	ID string `yaml:"id"`
	// AdvertiseAPI and AdvertiseGRPC are the addresses other parts reach this
	// controller at, as listed by GET /api/v1/controllers. Default: the
	// listen addresses.
	AdvertiseAPI  string `yaml:"advertise_api"`
	AdvertiseGRPC string `yaml:"advertise_grpc"`
	// Workers tunes the singleton workers.
	Workers WorkersConfig `yaml:"workers"`
	// AMQP, if its URL is set, publishes every mapping change to RabbitMQ,
	// for frontends that follow a cluster of controllers.
	AMQP AMQPConfig `yaml:"amqp"`
	// TLS, if set, serves the API and the sync service over TLS with this
	// certificate, so tokens and frontend secrets never cross a network in
	// the clear.
	TLS TLSConfig `yaml:"tls"`
	// DNSResolver, if set (host:port), is the DNS server asked for custom
	// domains' verification records instead of the system's resolver.
	DNSResolver string `yaml:"dns_resolver"`
	// Limits bound what one account may do.
	Limits LimitsConfig `yaml:"limits"`
}

// LimitsConfig bounds what one account may do.
type LimitsConfig struct {
	// JournalBytesPerHour is how many bytes of mapping changes (counted once
	// per frontend) an account may make per clock hour; beyond it the API
	// answers 429 until the next hour. Default 32 MiB.
	JournalBytesPerHour int64 `yaml:"journal_bytes_per_hour"`
	// NameQuarantine is how long a released reserved name stays out of
	// other accounts' reach (its releaser may take it back at once).
	// Default 24h.
	NameQuarantine time.Duration `yaml:"name_quarantine"`
}

// TLSConfig names a certificate and its key, in PEM files.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// AMQPConfig is the broker section of the configuration.
type AMQPConfig struct {
	URL      string `yaml:"url"`
	Exchange string `yaml:"exchange"`
}

// ZitiConfig is the Ziti section of the configuration.
type ZitiConfig struct {
	// ManagementURL is one OpenZiti controller; ManagementURLs are the
	// members of a cluster (or some of them: the rest are learnt from the
	// first that answers). Either or both may be set.
	ManagementURL  string   `yaml:"management_url"`
	ManagementURLs []string `yaml:"management_urls"`
	Username       string   `yaml:"username"`
	Password       string   `yaml:"password"`
	CAFile         string   `yaml:"ca_file"`
}

// urls are every configured controller, management_url first.
func (z ZitiConfig) urls() []string {
	if z.ManagementURL == "" {
		return z.ManagementURLs
	}
	return append([]string{z.ManagementURL}, z.ManagementURLs...)
}

// LoadConfig reads a YAML configuration file. ${VAR} references are expanded
// from the environment, and a reference to an unset variable is an error, as
// are unknown keys. Any other $ is kept, so a password may hold one.
func LoadConfig(path string) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("reading config: %w", err)
	}
	expanded, err := expandVars(string(raw))
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("parsing config %s: %w", path, err)
	}
	return cfg, nil
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandVars replaces each ${VAR} in s with the variable's value; an unset one is an error.
func expandVars(s string) (string, error) {
	var missing []string
	out := varRef.ReplaceAllStringFunc(s, func(ref string) string {
		name := varRef.FindStringSubmatch(ref)[1]
		v, ok := os.LookupEnv(name)
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("it refers to environment variables that are not set: %s", strings.Join(missing, ", "))
	}
	return out, nil
}

func (c *Config) setDefaults() {
	if c.API == "" {
		c.API = "127.0.0.1:18080"
	}
	if c.GRPC == "" {
		c.GRPC = "127.0.0.1:18081"
	}
	if c.Store == "" {
		c.Store = "sqlite:portico.db"
	}
	if c.ID == "" {
		c.ID = "ctrl-" + token.New(8)
	}
	c.Workers.setDefaults()
}

// Validate checks the configuration without touching the network.
func (c *Config) Validate() error {
	var errs []error
	if len(c.AdminToken) < 16 {
		errs = append(errs, errors.New("admin_token must be at least 16 characters"))
	}
	if len(c.Ziti.urls()) == 0 {
		errs = append(errs, errors.New("ziti.management_url (or management_urls, for a cluster) is required"))
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("tls needs both cert_file and key_file"))
	}
	if c.AMQP.URL != "" {
		if err := (broker.PublisherConfig{URL: c.AMQP.URL, Exchange: c.AMQP.Exchange}).Validate(); err != nil {
			errs = append(errs, fmt.Errorf("amqp: %w", err))
		}
	}
	if c.DNSResolver != "" {
		if _, _, err := net.SplitHostPort(c.DNSResolver); err != nil {
			errs = append(errs, fmt.Errorf("dns_resolver %q must be host:port: %w", c.DNSResolver, err))
		}
	}
	return errors.Join(errs...)
}
