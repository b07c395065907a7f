using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace PcieVirt.Devices.Nvme;

/// <summary>
/// A namespace of an NVM subsystem: its NSID, its backend, and the controllers it is attached to
/// (a controller sees only attached namespaces, NVMe 1.4 §6.1).
/// </summary>
public sealed class NvmeNamespace
{
    readonly List<ushort> _attached = [];

    internal NvmeNamespace(uint nsid, INamespaceBackend backend, bool shareable, ReadOnlySpan<byte> nguid)
    {
        Nsid = nsid;
        Backend = backend;
        Shareable = shareable;
        Nguid = nguid.ToArray();
    }

    public uint Nsid { get; }
    public INamespaceBackend Backend { get; }
    /// <summary>NMIC bit 0: may be attached to two or more controllers at once. A private namespace may not.</summary>
    public bool Shareable { get; }
    /// <summary>Namespace Globally Unique Identifier (16 bytes), derived from the subsystem and NSID.</summary>
    public IReadOnlyList<byte> Nguid { get; }
    /// <summary>Controller IDs it is attached to, ascending.</summary>
    public IReadOnlyList<ushort> AttachedControllers => _attached;
    public bool IsAttachedTo(ushort controllerId) => _attached.BinarySearch(controllerId) >= 0;

    internal void AddController(ushort id)
    {
        int i = _attached.BinarySearch(id);
        if (i < 0) _attached.Insert(~i, id);
    }

    internal void RemoveController(ushort id)
    {
        int i = _attached.BinarySearch(id);
        if (i >= 0) _attached.RemoveAt(i);
    }

    public override string ToString() => $"nsid {Nsid} ({Backend.BlockCount} x {Backend.BlockSize} B)";
}

/// <summary>
/// An NVM subsystem: the namespaces and the controllers that share them (NVMe 1.4 §1.5). The PF's
/// primary controller and its VFs' secondary controllers belong to one subsystem, which is how a
/// volume (namespace) carved by the PF is handed to a VF: attach it to the VF's controller. Attachment
/// changes made here or by a Namespace Attachment command reach the live controllers, which report a
/// Namespace Attribute Changed event (§5.2, notice 00h).
/// </summary>
public sealed class NvmeSubsystem
{
    readonly SortedDictionary<uint, NvmeNamespace> _namespaces = [];
    readonly SortedDictionary<ushort, NvmeController?> _controllers = [];
    readonly Dictionary<ushort, NvmeSecondaryController> _secondaries = [];
    readonly ILogger _log;

    /// <summary>A subsystem named <paramref name="nqn"/> with NSIDs 1..<paramref name="maxNamespaces"/>.</summary>
    public NvmeSubsystem(string nqn = "nqn.2024-01.io.pcievirt:subsystem0", uint maxNamespaces = 256, ILogger? logger = null)
    {
        if (maxNamespaces is 0 or > 1024) throw new ArgumentOutOfRangeException(nameof(maxNamespaces), "1..1024 namespaces");
        if (nqn.Length > 223) throw new ArgumentException("an NQN is at most 223 bytes", nameof(nqn));
        Nqn = nqn;
        MaxNamespaces = maxNamespaces;
        _log = logger ?? NullLogger.Instance;
    }

    /// <summary>NVM Subsystem NVMe Qualified Name (Identify Controller SUBNQN).</summary>
    public string Nqn { get; }
    /// <summary>NN: the largest NSID (namespaces are 1..NN).</summary>
    public uint MaxNamespaces { get; }

    /// <summary>Namespaces by ascending NSID.</summary>
    public IEnumerable<NvmeNamespace> Namespaces => _namespaces.Values;
    /// <summary>Every controller ID known to the subsystem (live controllers and declared secondaries), ascending.</summary>
    public IEnumerable<ushort> ControllerIds => _controllers.Keys;

    public NvmeNamespace? FindNamespace(uint nsid) => _namespaces.GetValueOrDefault(nsid);
    /// <summary>The live controller with <paramref name="controllerId"/>, or null (unknown, or a secondary whose VF does not exist).</summary>
    public NvmeController? FindController(ushort controllerId) => _controllers.GetValueOrDefault(controllerId);
    /// <summary>The secondary controller entry with <paramref name="controllerId"/>, or null.</summary>
    public NvmeSecondaryController? FindSecondary(ushort controllerId) => _secondaries.GetValueOrDefault(controllerId);
    public bool IsKnownController(ushort controllerId) => _controllers.ContainsKey(controllerId);

    /// <summary>Adds a namespace (not attached to any controller yet).</summary>
    public NvmeNamespace AddNamespace(uint nsid, INamespaceBackend backend, bool shareable = true)
    {
        if (nsid == 0 || nsid > MaxNamespaces) throw new ArgumentOutOfRangeException(nameof(nsid), $"NSID must be 1..{MaxNamespaces}");
        if (_namespaces.ContainsKey(nsid)) throw new ArgumentException($"NSID {nsid} is already allocated", nameof(nsid));
        ArgumentNullException.ThrowIfNull(backend);
        if (backend.BlockSize is < 512 or > 65536 || (backend.BlockSize & (backend.BlockSize - 1)) != 0)
            throw new ArgumentException($"backend block size {backend.BlockSize} is not a power of two in 512..65536");
        Span<byte> nguid = stackalloc byte[16];
        // Deterministic and unique within the subsystem: a hash of the NQN, then the NSID.
        BinaryPrimitives.WriteUInt64BigEndian(nguid, Fnv1a(Nqn));
        BinaryPrimitives.WriteUInt64BigEndian(nguid[8..], nsid);
        var ns = new NvmeNamespace(nsid, backend, shareable, nguid);
        _namespaces.Add(nsid, ns);
        Log.NamespaceAdded(_log, nsid, backend.BlockCount, backend.BlockSize);
        return ns;
    }

    /// <summary>Removes a namespace, detaching it from every controller first.</summary>
    public void RemoveNamespace(uint nsid)
    {
        if (!_namespaces.TryGetValue(nsid, out var ns)) throw new ArgumentException($"NSID {nsid} is not allocated", nameof(nsid));
        Span<ushort> ids = stackalloc ushort[ns.AttachedControllers.Count];
        for (int i = 0; i < ids.Length; i++) ids[i] = ns.AttachedControllers[i];
        if (ids.Length > 0) ApplyDetach(ns, ids, issuer: null);
        _namespaces.Remove(nsid);
    }

    /// <summary>Management-side attach (what the PF's software does): the same checks as the Namespace Attachment command.</summary>
    public NvmeStatus Attach(uint nsid, params ushort[] controllerIds) => Attach(nsid, controllerIds, issuer: null);

    /// <summary>Management-side detach.</summary>
    public NvmeStatus Detach(uint nsid, params ushort[] controllerIds) => Detach(nsid, controllerIds, issuer: null);

    internal NvmeStatus Attach(uint nsid, ReadOnlySpan<ushort> ids, NvmeController? issuer)
    {
        if (!_namespaces.TryGetValue(nsid, out var ns)) return NvmeStatus.InvalidNamespaceOrFormat;
        if (CheckList(ids) is { } bad) return bad;
        foreach (var id in ids)
            if (ns.IsAttachedTo(id)) return NvmeStatus.NamespaceAlreadyAttached;
        // A private namespace may be attached to one controller only (NMIC bit 0 clear).
        if (!ns.Shareable && ns.AttachedControllers.Count + ids.Length > 1) return NvmeStatus.NamespaceIsPrivate;
        foreach (var id in ids)
        {
            ns.AddController(id);
            Log.NamespaceAttached(_log, nsid, id);
            if (_controllers[id] is { } c) c.OnNamespaceAttachmentChanged(ns, attached: true, notify: c != issuer);
        }
        return NvmeStatus.Success;
    }

    internal NvmeStatus Detach(uint nsid, ReadOnlySpan<ushort> ids, NvmeController? issuer)
    {
        if (!_namespaces.TryGetValue(nsid, out var ns)) return NvmeStatus.InvalidNamespaceOrFormat;
        if (CheckList(ids) is { } bad) return bad;
        foreach (var id in ids)
            if (!ns.IsAttachedTo(id)) return NvmeStatus.NamespaceNotAttached;
        ApplyDetach(ns, ids, issuer);
        return NvmeStatus.Success;
    }

    void ApplyDetach(NvmeNamespace ns, ReadOnlySpan<ushort> ids, NvmeController? issuer)
    {
        foreach (var id in ids)
        {
            ns.RemoveController(id);
            Log.NamespaceDetached(_log, ns.Nsid, id);
            if (_controllers.GetValueOrDefault(id) is { } c) c.OnNamespaceAttachmentChanged(ns, attached: false, notify: c != issuer);
        }
    }

    NvmeStatus? CheckList(ReadOnlySpan<ushort> ids)
    {
        // A controller list naming no controller, an unknown one, or one twice is invalid (Controller List Invalid).
        if (ids.Length is 0 or > 2047) return NvmeStatus.ControllerListInvalid;
        for (int i = 0; i < ids.Length; i++)
        {
            if (!_controllers.ContainsKey(ids[i])) return NvmeStatus.ControllerListInvalid;
            for (int j = 0; j < i; j++)
                if (ids[j] == ids[i]) return NvmeStatus.ControllerListInvalid;
        }
        return null;
    }

    internal void Register(NvmeController controller)
    {
        ushort id = controller.ControllerId;
        if (_controllers.TryGetValue(id, out var existing))
        {
            if (existing != null || !_secondaries.ContainsKey(id))
                throw new InvalidOperationException($"controller ID {id} is already used in subsystem {Nqn}");
        }
        _controllers[id] = controller;
    }

    internal void Unregister(NvmeController controller)
    {
        ushort id = controller.ControllerId;
        if (_controllers.GetValueOrDefault(id) != controller) return;
        // A declared secondary stays known (its attachments survive its VF going away); others are forgotten.
        if (_secondaries.ContainsKey(id)) _controllers[id] = null;
        else
        {
            _controllers.Remove(id);
            foreach (var ns in _namespaces.Values) ns.RemoveController(id);
        }
    }

    internal void DeclareSecondary(NvmeSecondaryController secondary)
    {
        if (_controllers.ContainsKey(secondary.ControllerId))
            throw new InvalidOperationException($"controller ID {secondary.ControllerId} is already used in subsystem {Nqn}");
        _controllers.Add(secondary.ControllerId, null);
        _secondaries.Add(secondary.ControllerId, secondary);
    }

    static ulong Fnv1a(string s)
    {
        ulong h = 0xcbf29ce484222325;
        foreach (char ch in s) { h ^= ch; h *= 0x100000001b3; }
        return h;
    }
}

/// <summary>
/// A secondary controller as its primary manages it (a Secondary Controller List entry, NVMe 1.4
/// Identify CNS 15h): online state and the flexible resources assigned by Virtualization Management.
/// </summary>
public sealed class NvmeSecondaryController
{
    internal NvmeSecondaryController(ushort controllerId, ushort primaryControllerId, ushort virtualFunctionNumber)
    {
        ControllerId = controllerId;
        PrimaryControllerId = primaryControllerId;
        VirtualFunctionNumber = virtualFunctionNumber;
    }

    /// <summary>SCID.</summary>
    public ushort ControllerId { get; }
    /// <summary>PCID.</summary>
    public ushort PrimaryControllerId { get; }
    /// <summary>VFN: the SR-IOV VF number, 0 when not a VF.</summary>
    public ushort VirtualFunctionNumber { get; }
    /// <summary>SCS bit 0.</summary>
    public bool IsOnline { get; internal set; }
    /// <summary>NVQ: flexible queue resources assigned (one becomes the admin queue).</summary>
    public ushort QueueResources { get; internal set; }
    /// <summary>NVI: flexible interrupt resources assigned (MSI-X vectors usable).</summary>
    public ushort InterruptResources { get; internal set; }

    public override string ToString() =>
        $"secondary {ControllerId} (VF{VirtualFunctionNumber}) {(IsOnline ? "online" : "offline")} VQ={QueueResources} VI={InterruptResources}";
}
