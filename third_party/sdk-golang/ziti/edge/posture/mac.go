/*
	Copyright 2019 NetFoundry Inc.

	Licensed under the Apache License, Version 2.0 (the "License");
	you may not use this file except in compliance with the License.
	You may obtain a copy of the License at

	https://www.apache.org/licenses/LICENSE-2.0

	Unless required by applicable law or agreed to in writing, software
	distributed under the License is distributed on an "AS IS" BASIS,
	WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
	See the License for the specific language governing permissions and
	limitations under the License.
*/

package posture

import "net"

// MacProvider supplies the list of MAC addresses for network interfaces on the device,
// used for MAC address posture checks.
type MacProvider interface {
	GetMacAddresses() []string
}

// MacProviderFunc is a function adapter that implements MacProvider.
type MacProviderFunc func() []string

func (f MacProviderFunc) GetMacAddresses() []string {
	return f()
}

// NewMacProvider creates the default MAC address provider that queries system network interfaces.
func NewMacProvider() MacProvider {
	return &DefaultMacProvider{}
}

// DefaultMacProvider queries the system's network interfaces to collect MAC addresses.
type DefaultMacProvider struct{}

func (p *DefaultMacProvider) GetMacAddresses() []string {
	netInterfaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var addresses []string
	for _, netInterface := range netInterfaces {
		a := netInterface.HardwareAddr.String()
		if a != "" {
			addresses = append(addresses, a)
		}
	}
	return addresses
}
