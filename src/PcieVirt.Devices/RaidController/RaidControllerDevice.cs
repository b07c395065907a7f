using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PcieVirt.Devices.Media;
using PcieVirt.Devices.Nvme;
using PcieVirt.Devices.Nvme.Qos;
using PcieVirt.Devices.Raid;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Devices.RaidController;

/// <summary>The drives and identity of a RAID controller (what a device model's <c>settings</c> say).</summary>
public sealed record RaidControllerConfig
{
    /// <summary>Physical drives created at power-on (their names are d0, d1, …).</summary>
    public IReadOnlyList<DriveSpec> Drives { get; init; } = [];
    /// <summary>Report NVMe's class code (01 08 02) instead of a RAID controller's (01 04 00).</summary>
    public bool NvmeClassCode { get; init; }
    /// <summary>VWC reported by every controller.</summary>
    public bool VolatileWriteCache { get; init; } = true;
    /// <summary>Seed of the drives' latency jitter.</summary>
    public ulong Seed { get; init; }
    /// <summary>When every controller processes submitted commands (at the doorbell, or when a scheduler calls ProcessPending).</summary>
    public NvmeProcessingMode Processing { get; init; } = NvmeProcessingMode.OnDoorbell;
    /// <summary>Most I/O queue pairs of the PF's primary controller.</summary>
    public int PfIoQueuePairs { get; init; } = 31;
    /// <summary>Volumes to create at power-on, each with the controllers (0 = PF, n = VF n) its namespace is attached to.</summary>
    public IReadOnlyList<InitialVolume> Volumes { get; init; } = [];
    /// <summary>Per-VF quality of service from power-on (null: QoS off until switched on, e.g. by the shell).</summary>
    public RaidControllerQosConfig? Qos { get; init; }
    /// <summary>
    /// PFs of the device (1 for an ordinary controller; more for a multi-root aware controller whose PFs
    /// go to different hosts). Every PF has its own primary controller and VFs; all share the engine and
    /// the NVM subsystem, so one namespace may be attached to controllers of several PFs.
    /// </summary>
    public int PhysicalFunctions { get; init; } = 1;
}

/// <summary>The controller's QoS arbiter settings: its media channels and the limits each VF starts with.</summary>
public sealed record RaidControllerQosConfig
{
    /// <summary>Commands the controller's back end serves at once (the shared media model's channels); 0 = one per drive.</summary>
    public int Channels { get; init; }
    /// <summary>Limits of VF n's controller (key n ≥ 1) when it is created; VFs not listed start unlimited, weight 1.</summary>
    public IReadOnlyDictionary<int, QosLimits> Vfs { get; init; } = new Dictionary<int, QosLimits>();
}

/// <summary>
/// A direct-attached RAID controller: a <see cref="RaidEngine"/> carving physical drives into volumes, an
/// <see cref="NvmeSubsystem"/> in which each exposed volume is a namespace, the PF's primary controller
/// (CNTLID 1) and, per SR-IOV VF n, a secondary controller (CNTLID 1 + n) that sees only the namespaces
/// attached to it. This is the management API the shell's <c>raid</c> commands use.
/// </summary>
/// <summary>A volume the model asks for at power-on, and where its namespace is attached (0 = PF, n = VF n).</summary>
public sealed record InitialVolume(VolumeSpec Spec, IReadOnlyList<int> AttachTo);

public sealed class RaidControllerDevice : IDisposable
{
    /// <summary>CNTLID of the PF's primary controller.</summary>
    public const ushort PrimaryControllerId = 1;

    readonly Dictionary<int, uint> _nsidByVolume = [];
    readonly ILoggerFactory _loggerFactory;
    readonly ILogger _log;
    RaidControllerFunction? _function;
    readonly List<RaidControllerFunction> _pfs = [];
    readonly List<NvmeVirtualFunction> _vfs = [];
    bool _watchingVfs;
    Func<ulong> _clock = static () => 0;

    /// <summary>Creates the engine and its drives; throws <see cref="ArgumentException"/> when a drive cannot be created.</summary>
    public RaidControllerDevice(RaidControllerConfig config, ILoggerFactory? loggerFactory = null)
    {
        Config = config;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _log = _loggerFactory.CreateLogger("PcieVirt.Devices.RaidController");
        // A rebuild step first starts rebuilds onto waiting spares (the controller's background task).
        Engine = new RaidEngine(config.Seed, _loggerFactory) { AutoRebuild = true };
        foreach (var d in config.Drives)
        {
            var r = Engine.CreateDrive(d);
            if (!r.IsSuccess) { Engine.Dispose(); throw new ArgumentException(r.Error); }
        }
        Subsystem = new NvmeSubsystem("nqn.2024-01.io.pcievirt:raid", 1024, _log);
    }

    /// <summary>The settings the controller was built from.</summary>
    public RaidControllerConfig Config { get; }
    /// <summary>Drives, volumes, pools, snapshots and rebuilds.</summary>
    public RaidEngine Engine { get; }
    /// <summary>The NVM subsystem shared by the PF's primary and the VFs' secondary controllers.</summary>
    public NvmeSubsystem Subsystem { get; }
    /// <summary>The PF (after <see cref="CreateFunction"/>).</summary>
    public RaidControllerFunction Function => _function ?? throw new InvalidOperationException("the RAID controller has no function yet");
    /// <summary>The PF's primary controller.</summary>
    public NvmeController Primary => Function.Controller;
    /// <summary>Every PF created so far, by PF index (PF 0 is <see cref="Function"/>).</summary>
    public IReadOnlyList<RaidControllerFunction> PhysicalFunctions => _pfs;

    /// <summary>
    /// CNTLID of PF <paramref name="pf"/>'s primary controller: PF k owns CNTLIDs 1 + 128k (primary) to
    /// 128 + 128k (its VFs' secondaries), so controller IDs stay unique across the shared subsystem.
    /// </summary>
    public static ushort PrimaryControllerIdOf(int pf) => (ushort)(PrimaryControllerId + 128 * pf);

    /// <summary>CNTLID of VF <paramref name="vfNumber"/> of PF <paramref name="pf"/> (0 = the PF's primary).</summary>
    public static ushort ControllerIdOf(int pf, int vfNumber) => (ushort)(PrimaryControllerIdOf(pf) + vfNumber);

    /// <summary>
    /// Creates the PF (attach capabilities, then call <see cref="NvmeEndpointFunction.AttachController"/>, then seal).
    /// <paramref name="msix"/> is where the model puts the PF's MSI-X; <paramref name="totalVfs"/> its SR-IOV TotalVFs
    /// (one secondary controller each, up to the 127 the Secondary Controller List holds); <paramref name="vfMsixTableSize"/>
    /// the VFs' MSI-X table size (bounds the queues one VF may use).
    /// </summary>
    public RaidControllerFunction CreateFunction(string name, FunctionIdentity identity, int bar, MsixOptions? msix, int totalVfs, int vfMsixTableSize, ILogger? logger = null)
    {
        if (_pfs.Count >= Math.Max(1, Config.PhysicalFunctions))
            throw new InvalidOperationException(Config.PhysicalFunctions <= 1 ? "the RAID controller already has its PF" : $"the RAID controller already has its {Config.PhysicalFunctions} PFs");
        int pf = _pfs.Count;
        ushort primaryId = PrimaryControllerIdOf(pf);
        int secondaries = Math.Min(totalVfs, 127);
        int perVf = Math.Max(2, Math.Min(vfMsixTableSize, 16));
        var defs = new NvmeSecondaryControllerDefinition[secondaries];
        for (int i = 0; i < secondaries; i++) defs[i] = new((ushort)(primaryId + 1 + i), (ushort)(i + 1));
        int pairs = msix is { } m ? Math.Clamp(m.TableSize - 1, 1, Config.PfIoQueuePairs) : Config.PfIoQueuePairs;
        var options = new NvmeControllerOptions
        {
            ControllerId = primaryId,
            MultiplePorts = Config.PhysicalFunctions > 1,
            Bar = bar,
            MaxIoQueuePairs = pairs,
            MsixTableSize = msix?.TableSize,
            MsixTableOffset = msix?.TableOffset ?? 0x2000,
            MsixPbaOffset = msix?.PbaOffset ?? 0x3000,
            VolatileWriteCache = Config.VolatileWriteCache,
            Processing = Config.Processing,
            SerialNumber = "PCIEVIRT-RAID",
            Virtualization = secondaries == 0 ? null : new NvmeVirtualizationOptions
            {
                PrivateQueues = pairs + 1,
                PrivateInterrupts = Math.Max(1, msix?.TableSize ?? 1),
                FlexibleQueues = Math.Min(0xFFFF, secondaries * perVf),
                FlexibleInterrupts = Math.Min(0xFFFF, secondaries * perVf),
                MaxQueuesPerSecondary = perVf,
                MaxInterruptsPerSecondary = perVf,
                Secondaries = defs,
            },
        };
        identity = identity with { ClassCode = Config.NvmeClassCode ? NvmeEndpointFunction.NvmeClassCode : NvmeEndpointFunction.RaidClassCode };
        var function = new RaidControllerFunction(this, name, identity, options, logger);
        function.Controller.Clock = _clock;
        _pfs.Add(function);
        _function ??= function;
        return function;
    }

    /// <summary>The VF factory for the PF's SR-IOV capability: VF n hosts secondary controller 1 + n (a plain VF beyond 127).</summary>
    public VirtualFunction CreateVirtualFunction(SriovCapability sriov, int vfIndex)
    {
        if (vfIndex >= 127) return new VirtualFunction(sriov, vfIndex);
        int pf = Math.Max(0, _pfs.FindIndex(f => f == sriov.Function));
        var vfMsix = sriov.Options.VfMsix;
        int table = vfMsix?.TableSize ?? 2;
        var vf = new NvmeVirtualFunction(sriov, vfIndex, new NvmeControllerOptions
        {
            ControllerId = ControllerIdOf(pf, vfIndex + 1),
            MultiplePorts = Config.PhysicalFunctions > 1,
            IsSecondary = true,
            VirtualFunctionNumber = vfIndex + 1,
            Bar = vfMsix?.TableBar ?? 0,
            MaxIoQueuePairs = Math.Max(1, Math.Min(table, 16) - 1),
            MsixTableSize = table,
            MsixTableOffset = vfMsix?.TableOffset ?? 0x2000,
            MsixPbaOffset = vfMsix?.PbaOffset ?? 0x3000,
            VolatileWriteCache = Config.VolatileWriteCache,
            Processing = Config.Processing,
            SerialNumber = $"PCIEVIRT-RAID-VF{vfIndex + 1}",
        }, Subsystem, sriov.Function.Logger);
        vf.Controller.Clock = _clock;
        _vfs.Add(vf);
        if (!_watchingVfs)
        {
            sriov.VfsDisabled += OnVfsDisabled;
            _watchingVfs = true;
        }
        // QoS limits are keyed by PF 0's VF numbers; other PFs' VFs run unarbitrated (their host's business).
        if (QosEnabled && pf == 0) Arbiter!.Add(vf.Controller, DefaultLimits(vfIndex + 1));
        return vf;
    }

    void OnVfsDisabled(SriovCapability sriov, IReadOnlyList<VirtualFunction> removed)
    {
        foreach (var f in removed)
            if (f is NvmeVirtualFunction vf && _vfs.Remove(vf))
                Arbiter?.Remove(vf.Controller); // its limits are remembered for when the VF comes back
    }

    // ------------------------------------------------------------------ time and QoS

    /// <summary>
    /// The virtual time of the host the controller sits in (the platform sets it to its root complex's
    /// clock): every controller of the device, and the QoS arbiter's token buckets, read it.
    /// </summary>
    public Func<ulong> Clock
    {
        get => _clock;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            _clock = value;
            foreach (var pf in _pfs) pf.Controller.Clock = value;
            foreach (var vf in _vfs) vf.Controller.Clock = value;
        }
    }

    /// <summary>The controller's QoS arbiter, once QoS was switched on (it stays, keeping limits, while QoS is off).</summary>
    public QosArbiter? Arbiter { get; private set; }

    /// <summary>
    /// True while the PF's and every VF's controller are under <see cref="Arbiter"/>: I/O is then fetched
    /// when the arbiter grants it and completes in virtual time (callers advance the clock and call
    /// <see cref="QosArbiter.Run"/>, as <c>pcievirt io</c> does).
    /// </summary>
    public bool QosEnabled { get; private set; }

    /// <summary>Commands the back end serves at once under QoS (the media model's channels).</summary>
    public int QosChannels => Arbiter?.Media.Channels ?? (Config.Qos is { Channels: > 0 } q ? q.Channels : Math.Max(1, Engine.Drives.Count));

    /// <summary>The live controllers of the VFs, by VF number.</summary>
    public IEnumerable<(int VfNumber, NvmeController Controller)> VfControllers =>
        _vfs.Where(v => v.Sriov.Function == _function).Select(v => (v.VfIndex + 1, v.Controller));

    /// <summary>The live controllers of PF <paramref name="pf"/>'s VFs, by VF number.</summary>
    public IEnumerable<(int VfNumber, NvmeController Controller)> VfControllersOf(int pf) =>
        (uint)pf < (uint)_pfs.Count ? _vfs.Where(v => v.Sriov.Function == _pfs[pf]).Select(v => (v.VfIndex + 1, v.Controller)) : [];

    /// <summary>
    /// Puts the PF's and the VFs' controllers under the QoS arbiter (created on first use with
    /// <see cref="QosChannels"/> channels); VFs start with the limits set before, else the model's defaults.
    /// </summary>
    public EngineResult EnableQos()
    {
        if (QosEnabled) return EngineResult.Ok;
        if (_function is null) return EngineResult.Fail("the RAID controller has no function yet");
        var all = new List<NvmeController> { Primary };
        all.AddRange(VfControllers.Select(v => v.Controller));
        if (all.FirstOrDefault(c => c.CommandsInFlight != 0 || c.Media != null) is { } busy)
            return EngineResult.Fail($"controller {busy.ControllerId} is in timed mode or has commands in execution; let it finish first");
        Arbiter ??= new QosArbiter(new NvmeMediaModel(QosChannels), () => _clock(), _loggerFactory.CreateLogger("PcieVirt.Devices.Qos"));
        Arbiter.Add(Primary);
        foreach (var vf in _vfs)
            if (vf.Sriov.Function == _function) Arbiter.Add(vf.Controller, DefaultLimits(vf.VfIndex + 1));
        QosEnabled = true;
        return EngineResult.Ok;
    }

    /// <summary>Takes every controller from the arbiter (back to immediate completion); limits are kept for the next <see cref="EnableQos"/>.</summary>
    public EngineResult DisableQos()
    {
        if (!QosEnabled) return EngineResult.Ok;
        var all = Arbiter!.Controllers;
        if (all.FirstOrDefault(c => c.CommandsInFlight != 0) is { } busy)
            return EngineResult.Fail($"controller {busy.ControllerId} has {busy.CommandsInFlight} command(s) in execution; let them complete first");
        foreach (var c in all) Arbiter.Remove(c);
        QosEnabled = false;
        return EngineResult.Ok;
    }

    /// <summary>
    /// QoS limits of VF <paramref name="vfNumber"/>: what the arbiter enforces (or remembers while the VF or
    /// QoS is off), else the model's default; null when none was ever set (unlimited, weight 1).
    /// </summary>
    public QosLimits? QosOf(int vfNumber)
    {
        ushort id = VfControllerId(vfNumber);
        return Arbiter?.LimitsOf(id) ?? Arbiter?.RememberedLimitsOf(id) ?? DefaultLimits(vfNumber);
    }

    QosLimits? DefaultLimits(int vfNumber) =>
        Config.Qos?.Vfs.TryGetValue(vfNumber, out var l) == true ? l : null;

    /// <summary>CNTLID of the secondary controller of VF <paramref name="vfNumber"/> (1-based).</summary>
    public static ushort VfControllerId(int vfNumber) => (ushort)(PrimaryControllerId + vfNumber);

    // ------------------------------------------------------------------ volumes and namespaces

    /// <summary>The NSID of an exposed volume, or 0.</summary>
    public uint NamespaceOf(IVolume volume) => _nsidByVolume.GetValueOrDefault(volume.Id);

    /// <summary>Creates a RAID volume and its namespace (attached to no controller).</summary>
    public EngineResult<RaidVolume> CreateVolume(VolumeSpec spec)
    {
        var r = Engine.CreateVolume(spec);
        if (r.IsSuccess) Expose(r.Value!);
        return r;
    }

    /// <summary>Creates a thin pool backed by <paramref name="backingVolume"/> (which stops being a namespace).</summary>
    public EngineResult<ExtentPool> CreatePool(string name, string backingVolume)
    {
        if (Engine.FindVolume(backingVolume) is { } v && _nsidByVolume.TryGetValue(v.Id, out uint nsid)
            && Subsystem.FindNamespace(nsid) is { AttachedControllers.Count: > 0 })
            return EngineResult<ExtentPool>.Fail($"pool '{name}': volume '{backingVolume}' is attached to a controller; detach it first");
        var r = Engine.CreatePool(name, backingVolume);
        if (r.IsSuccess && Engine.FindVolume(backingVolume) is { } b && _nsidByVolume.Remove(b.Id, out uint gone))
            Subsystem.RemoveNamespace(gone);
        return r;
    }

    /// <summary>Creates a thin volume in <paramref name="pool"/> and its namespace.</summary>
    public EngineResult<ThinVolume> CreateThinVolume(string name, string pool, long sizeBytes)
    {
        var r = Engine.CreateThinVolume(name, pool, sizeBytes);
        if (r.IsSuccess) Expose(r.Value!);
        return r;
    }

    /// <summary>Takes a copy-on-write snapshot (kept in <paramref name="pool"/>, or the only pool) and exposes it as a namespace.</summary>
    public EngineResult<SnapshotVolume> CreateSnapshot(string origin, string name, string? pool = null, bool writable = false)
    {
        if (pool is null)
        {
            if (Engine.Pools.Count != 1)
                return EngineResult<SnapshotVolume>.Fail($"snapshot '{name}': name the pool (there are {Engine.Pools.Count} pools; create one with 'pool create')");
            pool = Engine.Pools.First().Name;
        }
        var r = Engine.CreateSnapshot(name, origin, pool, writable);
        if (r.IsSuccess) Expose(r.Value!);
        return r;
    }

    /// <summary>Deletes a volume and its namespace (detached from every controller first).</summary>
    public EngineResult DeleteVolume(string name)
    {
        var v = Engine.FindVolume(name);
        var r = Engine.DeleteVolume(name);
        if (r.IsSuccess && v != null && _nsidByVolume.Remove(v.Id, out uint nsid)) Subsystem.RemoveNamespace(nsid);
        return r;
    }

    /// <summary>Attaches a volume's namespace to the PF (<paramref name="vfNumber"/> 0) or to VF n's controller.</summary>
    public EngineResult Attach(string volume, int vfNumber) => ChangeAttachment(volume, 0, vfNumber, attach: true);

    /// <summary>Attaches a volume's namespace to PF <paramref name="pf"/>'s primary (0) or its VF n (namespaces are shareable across PFs).</summary>
    public EngineResult Attach(string volume, int pf, int vfNumber) => ChangeAttachment(volume, pf, vfNumber, attach: true);

    /// <summary>Detaches a volume's namespace from PF <paramref name="pf"/>'s primary (0) or its VF n.</summary>
    public EngineResult Detach(string volume, int pf, int vfNumber) => ChangeAttachment(volume, pf, vfNumber, attach: false);

    /// <summary>Detaches a volume's namespace from the PF (0) or VF n.</summary>
    public EngineResult Detach(string volume, int vfNumber) => ChangeAttachment(volume, 0, vfNumber, attach: false);

    EngineResult ChangeAttachment(string volume, int pf, int vfNumber, bool attach)
    {
        if (pf != 0 && (uint)pf >= (uint)_pfs.Count) return EngineResult.Fail($"PF {pf} does not exist (0..{Math.Max(1, _pfs.Count) - 1})");
        var v = Engine.FindVolume(volume);
        if (v is null) return EngineResult.Fail($"no volume '{volume}'");
        if (!_nsidByVolume.TryGetValue(v.Id, out uint nsid)) return EngineResult.Fail($"volume '{volume}' backs a pool and is not a namespace");
        int secondaries = (pf < _pfs.Count ? _pfs[pf] : null)?.Controller.SecondaryControllers.Count ?? 0;
        if (vfNumber < 0 || vfNumber > secondaries)
            return EngineResult.Fail(secondaries == 0 ? "this controller has no VF controllers" : $"VF {vfNumber} does not exist (1..{secondaries})");
        ushort id = ControllerIdOf(pf, vfNumber);
        var status = attach ? Subsystem.Attach(nsid, id) : Subsystem.Detach(nsid, id);
        if (status.IsSuccess) return EngineResult.Ok;
        string target = (vfNumber == 0 ? "the PF" : $"VF {vfNumber}") + (pf == 0 ? "" : $" of PF {pf}");
        return EngineResult.Fail(status == NvmeStatus.NamespaceAlreadyAttached ? $"volume '{volume}' is already attached to {target}"
            : status == NvmeStatus.NamespaceNotAttached ? $"volume '{volume}' is not attached to {target}"
            : $"{(attach ? "attach" : "detach")} '{volume}' to {target}: {status}");
    }

    /// <summary>Controllers (0 = PF, n = VF n) a volume's namespace is attached to.</summary>
    public IReadOnlyList<int> AttachmentsOf(IVolume volume)
    {
        if (!_nsidByVolume.TryGetValue(volume.Id, out uint nsid) || Subsystem.FindNamespace(nsid) is not { } ns) return [];
        var list = new List<int>();
        foreach (ushort id in ns.AttachedControllers)
            if (id < PrimaryControllerIdOf(1)) list.Add(id - PrimaryControllerId);
        return list;
    }

    /// <summary>Controllers of every PF a volume's namespace is attached to, as (PF, 0 = primary or VF n).</summary>
    public IReadOnlyList<(int Pf, int Vf)> ControllerAttachmentsOf(IVolume volume)
    {
        if (!_nsidByVolume.TryGetValue(volume.Id, out uint nsid) || Subsystem.FindNamespace(nsid) is not { } ns) return [];
        var list = new List<(int, int)>();
        foreach (ushort id in ns.AttachedControllers) list.Add(((id - PrimaryControllerId) / 128, (id - PrimaryControllerId) % 128));
        return list;
    }

    void Expose(IVolume v)
    {
        uint nsid = 1;
        while (Subsystem.FindNamespace(nsid) != null) nsid++;
        if (nsid > Subsystem.MaxNamespaces) return; // the engine keeps it; it is just not a namespace
        Subsystem.AddNamespace(nsid, new VolumeNamespaceBackend(v));
        _nsidByVolume[v.Id] = nsid;
    }

    /// <summary>Closes image files of the drives.</summary>
    public void Dispose() => Engine.Dispose();
}

/// <summary>The PF of a <see cref="RaidControllerDevice"/>: an NVMe endpoint whose controller is attached after the model's capabilities.</summary>
public sealed class RaidControllerFunction : NvmeEndpointFunction
{
    internal RaidControllerFunction(RaidControllerDevice device, string name, FunctionIdentity identity, NvmeControllerOptions options, ILogger? logger)
        : base(name, identity, options, device.Subsystem, logger, attachLater: true) => Device = device;

    /// <summary>The controller's management side.</summary>
    public RaidControllerDevice Device { get; }
}
