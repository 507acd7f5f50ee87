package zitiident

// This file keeps the SDK's posture cache from running lsb_release on every dial.

import (
	"sync"

	"github.com/openziti/sdk-golang/ziti"
	"github.com/openziti/sdk-golang/ziti/edge/posture"
)

// osInfo is the SDK's default OS posture answer, gathered once per process. The SDK asks for it
// under a per-context lock on every dial, bind and 10 s tick, and where there is no
// /etc/lsb-release (Debian) gopsutil forks /usr/bin/lsb_release each time.
var osInfo = sync.OnceValue(posture.DefaultOsProvider{}.GetOsInfo)

// cachePostureOS points zc's posture cache at osInfo with the setter the SDK exports; it has no
// option for this. Evaluate then takes the cache's lock, which orders the set before the cache's
// own first evaluation on another goroutine 10 s later (-race flags it otherwise). With no
// services yet it sends nothing.
func cachePostureOS(zc ziti.Context) {
	impl, ok := zc.(*ziti.ContextImpl)
	if !ok || impl.CtrlClt == nil || impl.CtrlClt.PostureCache == nil {
		return
	}
	impl.CtrlClt.PostureCache.SetOsProviderFunc(osInfo)
	impl.CtrlClt.PostureCache.Evaluate()
}
