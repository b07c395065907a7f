using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Fabric;

/// <summary>
/// A PCI Express root complex: the host's bridge into one PCI segment. It owns the root bus (root
/// ports and RC-integrated endpoints), decodes its ECAM window into configuration requests, routes
/// host memory and I/O requests down by the windows the bridges are programmed with, and receives
/// requests functions master (DMA to <see cref="HostMemory"/>, MSI to <see cref="InterruptController"/>).
/// Routing is done as hardware does it, from the registers as currently programmed. Not thread-safe:
/// one caller at a time, as for the rest of the model.
/// </summary>
public sealed partial class RootComplex : IConfigAccessor
{
    /// <summary>Logger category of per-TLP traces (Trace level).</summary>
    public const string TlpLogCategory = "PcieVirt.Fabric.Tlp";
    /// <summary>Logger category of fabric events (URs at Debug level, faults).</summary>
    public const string LogCategory = "PcieVirt.Fabric";

    readonly ILogger _log;
    readonly ILogger _tlpLog;
    readonly List<RootPort> _rootPorts = [];
    readonly HashSet<PciFunction> _functions = [];
    readonly List<PciFunction> _functionOrder = []; // attach order, so iteration is deterministic
    readonly ulong _ecamWindowBase;
    readonly ulong _ecamWindowSize;

    /// <param name="options">How the root complex is wired into the host.</param>
    /// <param name="loggerFactory">Logging; none by default.</param>
    /// <param name="clock">Virtual time shared with other parts of the platform; a new clock by default.</param>
    public RootComplex(RootComplexOptions options, ILoggerFactory? loggerFactory = null, VirtualClock? clock = null)
    {
        if (options.Validate() is { } error) throw new ArgumentException($"root complex '{options.Name}': {error}", nameof(options));
        Options = options;
        Name = options.Name;
        Segment = options.Segment;
        StartBus = options.StartBus;
        EndBus = options.EndBus;
        EcamWindow = options.EcamWindow;
        _ecamWindowBase = EcamWindow.Base;
        _ecamWindowSize = EcamWindow.Size;
        RequesterId = options.RequesterId ?? new Bdf(options.StartBus, 0, 0);
        loggerFactory ??= NullLoggerFactory.Instance;
        _log = loggerFactory.CreateLogger(LogCategory);
        _tlpLog = loggerFactory.CreateLogger(TlpLogCategory);
        HostMemory = new HostMemory(options.EffectiveRamRanges);
        InterruptController = new InterruptController();
        RootBus = new PciBus(this, PciBusKind.Root, null);
        Clock = clock ?? new VirtualClock();
    }

    public RootComplexOptions Options { get; }
    public string Name { get; }
    /// <summary>PCI segment (domain).</summary>
    public ushort Segment { get; }
    /// <summary>Root bus number, first bus of the ECAM window.</summary>
    public byte StartBus { get; }
    public byte EndBus { get; }
    /// <summary>Physical addresses of the configuration space of buses StartBus..EndBus.</summary>
    public AddressRange EcamWindow { get; }
    public AddressRange Mmio32 => Options.Mmio32;
    public AddressRange Mmio64 => Options.Mmio64;
    public AddressRange Io => Options.Io;
    /// <summary>Requester ID of requests the root complex issues (its host bridge).</summary>
    public Bdf RequesterId { get; }

    public PciBus RootBus { get; }
    /// <summary>Virtual time of this root complex's hierarchy (settle times, host waits).</summary>
    public VirtualClock Clock { get; }
    public HostMemory HostMemory { get; }
    public InterruptController InterruptController { get; }

    /// <summary>
    /// The IOMMU that translates upstream DMA and remaps MSI writes (null: none, addresses are host
    /// physical and messages go straight to <see cref="InterruptController"/>).
    /// </summary>
    public IDmaRemapper? Iommu { get; set; }

    /// <summary>
    /// Total extra latency upstream requests have cost in translation (IOTLB misses) so far, in ns. A
    /// device model reads it before and after a command to charge the command its share.
    /// </summary>
    public ulong DmaStallNs { get; private set; }
    public IReadOnlyList<RootPort> RootPorts => _rootPorts;

    /// <summary>Adds a root port at <paramref name="device"/>.<paramref name="function"/> of the root bus.</summary>
    public RootPort AddRootPort(int device, int function, BridgeFunction bridge)
    {
        if (bridge.PortKind != BridgePortKind.RootPort)
            throw new ArgumentException($"{bridge.Name}: a root port must be a RootPort bridge, not {bridge.PortKind}");
        var slot = RootBus.AttachBridge(BusPlacement.At(device, function), bridge, PciBusKind.Link);
        var port = new RootPort(slot);
        _rootPorts.Add(port);
        return port;
    }

    /// <summary>Adds a root-complex integrated endpoint (Type 0) on the root bus.</summary>
    public void AddIntegratedEndpoint(int device, int function, PciFunction endpoint) =>
        RootBus.AddFunctionAt(BusPlacement.At(device, function), endpoint);

    /// <summary>The function that answers at <paramref name="bdf"/> with routing as currently programmed, or null.</summary>
    public PciFunction? FindFunction(Bdf bdf) => FindSlot(bdf)?.Function;

    /// <summary>The root port or downstream port whose function answers at <paramref name="bdf"/>, or null.</summary>
    public PciePort? FindPort(Bdf bdf) => FindSlot(bdf)?.Port;

    /// <summary>Every function attached below this root complex, reachable or not.</summary>
    public IReadOnlyList<PciFunction> AttachedFunctions => _functionOrder;

    /// <summary>
    /// Cold (fundamental) reset of every function: config registers back to their power-on values,
    /// bus numbers and windows cleared, so only the root bus answers until firmware enumerates again.
    /// </summary>
    public void Reset()
    {
        // A PF's reset removes its VFs from the fabric, so walk a snapshot and skip what has left.
        foreach (var f in _functionOrder.ToArray())
            if (!f.IsVirtualFunction && _functions.Contains(f)) f.Reset(ResetKind.Fundamental);
        InvalidateRouting();
        RenumberAll(RootBus);
    }

    static void RenumberAll(PciBus bus)
    {
        bus.Renumber();
        foreach (var s in bus.Bridges) RenumberAll(s.ChildBus!);
    }

    internal void Register(PciFunction function)
    {
        if (!_functions.Add(function)) throw new ArgumentException($"{function.Name} is already part of the fabric");
        _functionOrder.Add(function);
    }

    internal void Unregister(PciFunction function)
    {
        if (_functions.Remove(function)) _functionOrder.Remove(function);
    }

    internal void Unregister(HashSet<PciFunction> functions)
    {
        foreach (var f in functions) _functions.Remove(f);
        _functionOrder.RemoveAll(functions.Contains);
    }

    internal ILogger Logger => _log;
    internal bool IsRegistered(PciFunction function) => _functions.Contains(function);

    public override string ToString() => $"{Name} (segment {Segment:x4}, buses {StartBus:x2}-{EndBus:x2})";
}
