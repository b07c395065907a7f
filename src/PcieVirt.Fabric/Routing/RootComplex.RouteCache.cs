using PcieVirt.Pci.Config;

namespace PcieVirt.Fabric;

// A cache of memory routing decisions for host MMIO (doorbells and other registers the host writes again
// and again). A decision of RouteDown is a function of (a) the topology: which functions sit on which bus,
// which VFs are placed; and (b) the config registers of the functions it looked at on the way: every
// decoder it asked before the one that claimed the address (BARs, Command, SR-IOV VF BARs and VF MSE) and
// every bridge it went through (windows, Command, Link Disable). (a) moves the routing generation
// (InvalidateRouting); (b) moves ConfigSpace.Version, whatever wrote the register (a config TLP, a test
// writing Config directly, a device-side SetRaw, a reset). An entry records the generation and the version
// of every config space the walk read, so a hit is exactly what a fresh walk would return.
public sealed partial class RootComplex
{
    const int RouteCacheSlots = 16;
    const int RouteCacheMaxConfigs = 8;

    /// <summary>One remembered successful memory route (only successes are cached: failures have side effects).</summary>
    sealed class MemoryRouteEntry
    {
        public ulong Address;
        public int Generation; // 0 = empty (the routing generation is never 0)
        public FunctionSlot? Target;
        public int Bar;
        public ulong Offset;
        public int Count;
        public readonly ConfigSpace?[] Configs = new ConfigSpace?[RouteCacheMaxConfigs];
        public readonly ulong[] Versions = new ulong[RouteCacheMaxConfigs];

        public bool IsCurrent(ulong address, int generation)
        {
            if (Address != address || Generation != generation) return false;
            for (int i = 0; i < Count; i++)
                if (Configs[i]!.Version != Versions[i]) return false;
            return true;
        }
    }

    /// <summary>Collects the config spaces a route walk read (allocation-free; reused).</summary>
    internal sealed class RouteRecorder
    {
        public readonly ConfigSpace?[] Configs = new ConfigSpace?[RouteCacheMaxConfigs];
        public int Count;
        public bool Overflow;

        public void Reset()
        {
            Count = 0;
            Overflow = false;
        }

        public void Add(ConfigSpace config)
        {
            if (Count > 0 && ReferenceEquals(Configs[Count - 1], config)) return;
            if (Count == Configs.Length) { Overflow = true; return; }
            Configs[Count++] = config;
        }
    }

    readonly MemoryRouteEntry[] _memoryRoutes = CreateRouteCache();
    readonly RouteRecorder _recorder = new();

    static MemoryRouteEntry[] CreateRouteCache()
    {
        var a = new MemoryRouteEntry[RouteCacheSlots];
        for (int i = 0; i < a.Length; i++) a[i] = new MemoryRouteEntry();
        return a;
    }

    static int RouteCacheSlot(ulong address) => (int)((address >> 2 ^ address >> 12) & (RouteCacheSlots - 1));

    /// <summary>The cached memory route for <paramref name="address"/> when it is still what a walk would find.</summary>
    FunctionSlot? CachedMemoryRoute(ulong address, out int bar, out ulong offset)
    {
        var e = _memoryRoutes[RouteCacheSlot(address)];
        if (e.IsCurrent(address, _generation))
        {
            bar = e.Bar;
            offset = e.Offset;
            return e.Target;
        }
        bar = -1;
        offset = 0;
        return null;
    }

    /// <summary>A memory route down from the root bus, from the cache or by walking (and then remembered).</summary>
    FunctionSlot? RouteMemoryDown(ulong address, out int bar, out ulong offset, out FunctionSlot? rootPort, out FunctionSlot? detector)
    {
        rootPort = detector = null;
        if (CachedMemoryRoute(address, out bar, out offset) is { } hit) return hit;
        var rec = _recorder;
        rec.Reset();
        var target = RouteDown(RootBus, address, io: false, out bar, out offset, out rootPort, out detector, rec);
        if (target != null && !rec.Overflow)
        {
            var e = _memoryRoutes[RouteCacheSlot(address)];
            e.Address = address;
            e.Generation = _generation;
            e.Target = target;
            e.Bar = bar;
            e.Offset = offset;
            e.Count = rec.Count;
            for (int i = 0; i < rec.Count; i++)
            {
                e.Configs[i] = rec.Configs[i];
                e.Versions[i] = rec.Configs[i]!.Version;
            }
            Array.Clear(e.Configs, rec.Count, e.Configs.Length - rec.Count);
        }
        return target;
    }
}
