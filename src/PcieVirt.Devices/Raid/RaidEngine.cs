using System.Numerics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PcieVirt.Devices.Media;

namespace PcieVirt.Devices.Raid;

/// <summary>
/// The RAID engine of the controller's PF: physical drives, RAID volumes, extent pools, thin volumes and
/// snapshots, hot spares and rebuild. Bad requests are refused with an <see cref="EngineResult"/> carrying
/// a clear message (and a log line), never an exception. Single-threaded like the rest of the model.
/// </summary>
public sealed class RaidEngine : IDisposable
{
    /// <summary>Default extent size of a pool: 1 MiB.</summary>
    public const int DefaultExtentBytes = 1024 * 1024;

    /// <summary>Largest chunk size accepted.</summary>
    public const int MaxStripeSizeBytes = 16 * 1024 * 1024;

    /// <summary>Most members in one volume.</summary>
    public const int MaxMembers = 32;

    readonly ulong _seed;
    readonly ILoggerFactory _loggerFactory;
    readonly ILogger _log;
    readonly Dictionary<string, PhysicalDrive> _drives = new(StringComparer.Ordinal);
    readonly Dictionary<PhysicalDrive, RaidVolume?> _globalOrDedicatedSpares = [];   // value: the volume, or null for global
    readonly List<PhysicalDrive> _driveOrder = [];
    readonly List<Volume> _volumes = [];
    readonly Dictionary<string, ExtentPool> _pools = new(StringComparer.Ordinal);
    int _nextVolumeId = 1;

    /// <param name="seed">Seed from which each drive's latency jitter is derived (with the drive's name).</param>
    public RaidEngine(ulong seed = 0, ILoggerFactory? loggerFactory = null)
    {
        _seed = seed;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _log = _loggerFactory.CreateLogger("PcieVirt.Devices.Raid");
    }

    /// <summary>When set, a volume that loses a member takes a hot spare and starts rebuilding at once
    /// (on <see cref="FailDrive"/>, <see cref="AddSpare"/> and <see cref="RebuildStep(int)"/>).</summary>
    public bool AutoRebuild { get; set; }

    /// <summary>Drives in creation order.</summary>
    public IReadOnlyList<PhysicalDrive> Drives => _driveOrder;

    /// <summary>Volumes (RAID, thin, snapshot) in creation order.</summary>
    public IReadOnlyList<Volume> Volumes => _volumes;

    /// <summary>Extent pools.</summary>
    public IReadOnlyCollection<ExtentPool> Pools => _pools.Values;

    public PhysicalDrive? FindDrive(string name) => _drives.GetValueOrDefault(name);

    public Volume? FindVolume(string name)
    {
        foreach (Volume v in _volumes)
        {
            if (v.Name == name)
                return v;
        }
        return null;
    }

    public Volume? FindVolume(int id)
    {
        foreach (Volume v in _volumes)
        {
            if (v.Id == id)
                return v;
        }
        return null;
    }

    public ExtentPool? FindPool(string name) => _pools.GetValueOrDefault(name);

    // ------------------------------------------------------------------ drives

    /// <summary>Creates an in-memory drive or opens/creates its image file.</summary>
    public EngineResult<PhysicalDrive> CreateDrive(DriveSpec spec)
    {
        const string op = "create drive";
        if (string.IsNullOrWhiteSpace(spec.Name))
            return Refuse<PhysicalDrive>(op, "a drive needs a name");
        if (_drives.ContainsKey(spec.Name))
            return Refuse<PhysicalDrive>(op, $"drive '{spec.Name}' already exists");
        if (spec.BlockSize is not (512 or 4096))
            return Refuse<PhysicalDrive>(op, $"drive '{spec.Name}': block size {spec.BlockSize} is not 512 or 4096");
        if (spec.CapacityBytes < 0 || spec.CapacityBytes % spec.BlockSize != 0)
            return Refuse<PhysicalDrive>(op, $"drive '{spec.Name}': capacity {spec.CapacityBytes} is not a multiple of the {spec.BlockSize}-byte block");
        if (spec.ImagePath is null && spec.CapacityBytes == 0)
            return Refuse<PhysicalDrive>(op, $"drive '{spec.Name}': an in-memory drive needs a capacity");

        IBlockStore store;
        if (spec.ImagePath is null)
        {
            store = new SparseMemoryStore(spec.CapacityBytes);
        }
        else
        {
            FileImageStore? file = FileImageStore.Open(spec.ImagePath, spec.CapacityBytes, out string? error);
            if (file is null)
                return Refuse<PhysicalDrive>(op, $"drive '{spec.Name}': {error}");
            if (file.Length < spec.BlockSize)
            {
                file.Dispose();
                return Refuse<PhysicalDrive>(op, $"drive '{spec.Name}': image file is smaller than one block");
            }
            store = file;
        }
        long blocks = store.Length / spec.BlockSize;
        ulong seed = spec.Seed ?? DeriveSeed(spec.Name);
        ILatencyModel latency = spec.Latency ?? PhysicalDrive.DefaultLatency(spec.Kind, blocks, seed);
        var drive = new PhysicalDrive(spec.Name, spec.Kind, spec.BlockSize, store, latency,
            _loggerFactory.CreateLogger("PcieVirt.Devices.Media"));
        _drives.Add(drive.Name, drive);
        _driveOrder.Add(drive);
        Log.DriveCreated(_log, drive.Name, drive.ToString() + (drive.ImagePath is { } p ? $", image {p}" : ", in memory"));
        return EngineResult<PhysicalDrive>.Ok(drive);
    }

    /// <summary>Adds a drive built by the caller (a custom store or latency model); the engine owns it from now on.</summary>
    public EngineResult AddDrive(PhysicalDrive drive)
    {
        if (_drives.ContainsKey(drive.Name))
            return Refuse("add drive", $"drive '{drive.Name}' already exists");
        _drives.Add(drive.Name, drive);
        _driveOrder.Add(drive);
        Log.DriveCreated(_log, drive.Name, drive.ToString());
        return EngineResult.Ok;
    }

    /// <summary>Removes a drive that no volume uses (available or failed) and closes its image file.</summary>
    public EngineResult RemoveDrive(string name)
    {
        const string op = "remove drive";
        if (!_drives.TryGetValue(name, out PhysicalDrive? drive))
            return Refuse(op, $"no drive '{name}'");
        if (OwningVolume(drive) is { } v)
            return Refuse(op, $"drive '{name}' is a member of volume '{v.Name}'");
        if (_globalOrDedicatedSpares.ContainsKey(drive))
            return Refuse(op, $"drive '{name}' is a hot spare; remove the spare first");
        _drives.Remove(name);
        _driveOrder.Remove(drive);
        drive.Dispose();
        Log.DriveRole(_log, name, "removed");
        return EngineResult.Ok;
    }

    /// <summary>Fails a drive, as if it had died: the volumes using it go degraded (or failed).</summary>
    public EngineResult FailDrive(string name)
    {
        const string op = "fail drive";
        if (!_drives.TryGetValue(name, out PhysicalDrive? drive))
            return Refuse(op, $"no drive '{name}'");
        if (drive.IsFailed)
            return Refuse(op, $"drive '{name}' has already failed");
        drive.Fail();
        _globalOrDedicatedSpares.Remove(drive);
        foreach (Volume v in _volumes)
        {
            if (v is RaidVolume r)
            {
                r.DedicatedSpareList.Remove(drive);
                r.MemberLost(drive);
            }
        }
        if (AutoRebuild)
            StartPendingRebuilds();
        return EngineResult.Ok;
    }

    /// <summary>Adds an available drive as a hot spare, for one volume or (volume null) for any volume.</summary>
    public EngineResult AddSpare(string drive, string? volume = null)
    {
        const string op = "add spare";
        if (!_drives.TryGetValue(drive, out PhysicalDrive? d))
            return Refuse(op, $"no drive '{drive}'");
        if (DriveStateOf(d) != DriveState.Available)
            return Refuse(op, $"drive '{drive}' is {DriveStateOf(d).ToString().ToLowerInvariant()}, not available");
        RaidVolume? target = null;
        if (volume is not null)
        {
            if (FindVolume(volume) is not RaidVolume r)
                return Refuse(op, $"no RAID volume '{volume}'");
            if (r.Level == RaidLevel.Raid0)
                return Refuse(op, $"volume '{volume}' is RAID 0 and cannot rebuild onto a spare");
            string? fit = SpareFits(d, r);
            if (fit is not null)
                return Refuse(op, fit);
            target = r;
            r.DedicatedSpareList.Add(d);
        }
        _globalOrDedicatedSpares[d] = target;
        Log.DriveRole(_log, drive, target is null ? "a global hot spare" : $"a hot spare for {target.Name}");
        if (AutoRebuild)
            StartPendingRebuilds();
        return EngineResult.Ok;
    }

    /// <summary>Returns a hot spare to the available drives.</summary>
    public EngineResult RemoveSpare(string drive)
    {
        const string op = "remove spare";
        if (!_drives.TryGetValue(drive, out PhysicalDrive? d) || !_globalOrDedicatedSpares.Remove(d, out RaidVolume? owner))
            return Refuse(op, $"'{drive}' is not a hot spare");
        owner?.DedicatedSpareList.Remove(d);
        Log.DriveRole(_log, drive, "available");
        return EngineResult.Ok;
    }

    // ------------------------------------------------------------------ RAID volumes

    /// <summary>Creates a RAID volume over available drives.</summary>
    public EngineResult<RaidVolume> CreateVolume(VolumeSpec spec)
    {
        const string op = "create volume";
        string? nameError = CheckNewVolumeName(spec.Name);
        if (nameError is not null)
            return Refuse<RaidVolume>(op, nameError);
        if (!Enum.IsDefined(spec.Level))
            return Refuse<RaidVolume>(op, $"volume '{spec.Name}': unknown RAID level {(int)spec.Level}");
        int minimum = MinimumMembers(spec.Level);
        if (spec.Members.Count < minimum)
            return Refuse<RaidVolume>(op, $"volume '{spec.Name}': {LevelName(spec.Level)} needs at least {minimum} drives, {spec.Members.Count} given");
        if (spec.Members.Count > MaxMembers)
            return Refuse<RaidVolume>(op, $"volume '{spec.Name}': at most {MaxMembers} drives per volume, {spec.Members.Count} given");
        if (spec.StripeSizeBytes <= 0 || !BitOperations.IsPow2(spec.StripeSizeBytes))
            return Refuse<RaidVolume>(op, $"volume '{spec.Name}': stripe size {spec.StripeSizeBytes} is not a power of two");
        if (spec.StripeSizeBytes > MaxStripeSizeBytes)
            return Refuse<RaidVolume>(op, $"volume '{spec.Name}': stripe size {spec.StripeSizeBytes} exceeds {MaxStripeSizeBytes}");

        var members = new List<PhysicalDrive>(spec.Members.Count);
        foreach (string name in spec.Members)
        {
            string? error = CheckFreeDrive(name, spec.Name, members);
            if (error is not null)
                return Refuse<RaidVolume>(op, error);
            members.Add(_drives[name]);
        }
        int blockSize = members[0].BlockSize;
        foreach (PhysicalDrive d in members)
        {
            if (d.BlockSize != blockSize)
                return Refuse<RaidVolume>(op, $"volume '{spec.Name}': drive '{d.Name}' has {d.BlockSize}-byte blocks, '{members[0].Name}' has {blockSize}");
        }
        if (spec.StripeSizeBytes < blockSize)
            return Refuse<RaidVolume>(op, $"volume '{spec.Name}': stripe size {spec.StripeSizeBytes} is smaller than the {blockSize}-byte block");
        int chunkBlocks = spec.StripeSizeBytes / blockSize;
        if (members.Min(d => d.BlockCount) < chunkBlocks)
            return Refuse<RaidVolume>(op, $"volume '{spec.Name}': the smallest drive holds less than one {spec.StripeSizeBytes}-byte chunk");

        var spares = new List<PhysicalDrive>(spec.Spares.Count);
        foreach (string name in spec.Spares)
        {
            string? error = CheckFreeDrive(name, spec.Name, members);
            if (error is null && spares.Exists(s => s.Name == name))
                error = $"volume '{spec.Name}': drive '{name}' is listed twice";
            if (error is not null)
                return Refuse<RaidVolume>(op, error);
            spares.Add(_drives[name]);
        }
        if (spares.Count > 0 && spec.Level == RaidLevel.Raid0)
            return Refuse<RaidVolume>(op, $"volume '{spec.Name}': RAID 0 has no redundancy to rebuild a spare from");

        ILogger logger = _loggerFactory.CreateLogger("PcieVirt.Devices.Raid");
        int id = _nextVolumeId;
        RaidVolume volume = spec.Level switch
        {
            RaidLevel.Raid0 => new Raid0Volume(id, spec.Name, members, chunkBlocks, logger),
            RaidLevel.Raid1 => new Raid1Volume(id, spec.Name, members, chunkBlocks, logger),
            RaidLevel.Raid10 => new Raid10Volume(id, spec.Name, members, chunkBlocks, logger),
            _ => new ParityVolume(id, spec.Name, spec.Level, members, chunkBlocks, logger),
        };
        foreach (PhysicalDrive s in spares)
        {
            string? fit = SpareFits(s, volume);
            if (fit is not null)
                return Refuse<RaidVolume>(op, fit);
        }
        _nextVolumeId++;
        foreach (PhysicalDrive s in spares)
        {
            volume.DedicatedSpareList.Add(s);
            _globalOrDedicatedSpares[s] = volume;
        }
        volume.MemberDropped = OnMemberDropped;
        _volumes.Add(volume);
        Log.VolumeCreated(_log, volume.Name, LevelName(spec.Level), string.Join(",", spec.Members), spec.StripeSizeBytes,
            volume.BlockCount, blockSize);
        return EngineResult<RaidVolume>.Ok(volume);
    }

    /// <summary>Deletes a volume of any kind. Its drives become available, its extents return to their pool.
    /// Refused while snapshots of it exist or it backs a pool.</summary>
    public EngineResult DeleteVolume(string name)
    {
        const string op = "delete volume";
        Volume? volume = FindVolume(name);
        if (volume is null)
            return Refuse(op, $"no volume '{name}'");
        if (volume.Snapshots.Count > 0)
            return Refuse(op, $"volume '{name}' has {volume.Snapshots.Count} snapshot(s); delete them first");
        if (volume.BackedPool is { } pool)
            return Refuse(op, $"volume '{name}' backs pool '{pool.Name}'; delete the pool first");
        switch (volume)
        {
            case RaidVolume r:
                foreach (PhysicalDrive s in r.DedicatedSpareList)
                    _globalOrDedicatedSpares.Remove(s);
                r.DedicatedSpareList.Clear();
                r.MemberDropped = null;
                break;
            case ThinVolume t:
                t.Release();
                t.Pool.Users--;
                break;
            case SnapshotVolume s:
                s.Release();
                s.Origin.RemoveSnapshot(s);
                s.Pool.Users--;
                break;
        }
        _volumes.Remove(volume);
        Log.VolumeDeleted(_log, name);
        return EngineResult.Ok;
    }

    // ------------------------------------------------------------------ rebuild

    /// <summary>
    /// Puts hot spares (dedicated first, then global) into the missing slots of a volume and starts
    /// rebuilding them. Refused if no spare fits.
    /// </summary>
    public EngineResult<RaidVolume> StartRebuild(string volume)
    {
        const string op = "start rebuild";
        if (FindVolume(volume) is not RaidVolume r)
            return Refuse<RaidVolume>(op, $"no RAID volume '{volume}'");
        if (r.State == VolumeState.Failed)
            return Refuse<RaidVolume>(op, $"volume '{volume}' has failed; its data cannot be rebuilt");
        if (!r.NeedsReplacement)
            return Refuse<RaidVolume>(op, $"volume '{volume}' has no missing member");
        int started = StartRebuild(r);
        if (started == 0)
            return Refuse<RaidVolume>(op, $"volume '{volume}': no hot spare fits (same block size, at least {r.RowCount * r.ChunkBlocks} blocks)");
        return EngineResult<RaidVolume>.Ok(r);
    }

    /// <summary>Rebuilds a missing member of <paramref name="volume"/> onto a specific available drive.</summary>
    public EngineResult ReplaceDrive(string volume, string newDrive)
    {
        const string op = "replace drive";
        if (FindVolume(volume) is not RaidVolume r)
            return Refuse(op, $"no RAID volume '{volume}'");
        if (r.State == VolumeState.Failed)
            return Refuse(op, $"volume '{volume}' has failed; its data cannot be rebuilt");
        if (!r.NeedsReplacement)
            return Refuse(op, $"volume '{volume}' has no missing member");
        if (!_drives.TryGetValue(newDrive, out PhysicalDrive? d))
            return Refuse(op, $"no drive '{newDrive}'");
        bool dedicatedHere = _globalOrDedicatedSpares.TryGetValue(d, out RaidVolume? owner) && (owner is null || owner == r);
        if (DriveStateOf(d) != DriveState.Available && !dedicatedHere)
            return Refuse(op, $"drive '{newDrive}' is {DriveStateOf(d).ToString().ToLowerInvariant()}, not available");
        string? fit = SpareFits(d, r);
        if (fit is not null)
            return Refuse(op, fit);
        _globalOrDedicatedSpares.Remove(d);
        r.DedicatedSpareList.Remove(d);
        r.BeginRebuild(d);
        return EngineResult.Ok;
    }

    /// <summary>Rebuild step on one volume (see <see cref="RaidVolume.RebuildStep"/>).</summary>
    public EngineResult<RaidVolume> RebuildStep(string volume, int maxStripes, out RebuildProgress progress)
    {
        progress = default;
        if (FindVolume(volume) is not RaidVolume r)
            return Refuse<RaidVolume>("rebuild step", $"no RAID volume '{volume}'");
        progress = r.RebuildStep(maxStripes);
        return EngineResult<RaidVolume>.Ok(r);
    }

    /// <summary>
    /// One rebuild step of up to <paramref name="maxStripesPerVolume"/> rows on every rebuilding volume (and,
    /// with <see cref="AutoRebuild"/>, first starts rebuilds where spares are waiting). The returned time is
    /// the longest volume's step (volumes rebuild on different drives, in parallel).
    /// </summary>
    public RebuildProgress RebuildStep(int maxStripesPerVolume)
    {
        if (AutoRebuild)
            StartPendingRebuilds();
        long rows = 0, remaining = 0, ns = 0;
        VolumeStatus status = VolumeStatus.Success;
        foreach (Volume v in _volumes)
        {
            if (v is not RaidVolume r || r.RowsToRebuild() == 0)
                continue;
            RebuildProgress p = r.RebuildStep(maxStripesPerVolume);
            rows += p.RowsRebuilt;
            remaining += p.RowsRemaining;
            ns = Math.Max(ns, p.ServiceTimeNs);
            if (p.Status != VolumeStatus.Success)
                status = p.Status;
        }
        return new RebuildProgress(rows, remaining, ns, status);
    }

    // ------------------------------------------------------------------ pools, thin volumes, snapshots

    /// <summary>Creates an extent pool on a RAID volume, which then becomes internal (not exposable).</summary>
    public EngineResult<ExtentPool> CreatePool(string name, string backingVolume, int extentBytes = DefaultExtentBytes)
    {
        const string op = "create pool";
        if (string.IsNullOrWhiteSpace(name))
            return Refuse<ExtentPool>(op, "a pool needs a name");
        if (_pools.ContainsKey(name))
            return Refuse<ExtentPool>(op, $"pool '{name}' already exists");
        if (FindVolume(backingVolume) is not RaidVolume backing)
            return Refuse<ExtentPool>(op, $"pool '{name}': no RAID volume '{backingVolume}' to hold it");
        if (backing.BackedPool is not null)
            return Refuse<ExtentPool>(op, $"pool '{name}': volume '{backingVolume}' already backs pool '{backing.BackedPool.Name}'");
        if (backing.Snapshots.Count > 0)
            return Refuse<ExtentPool>(op, $"pool '{name}': volume '{backingVolume}' has snapshots");
        if (extentBytes <= 0 || !BitOperations.IsPow2(extentBytes) || extentBytes < backing.BlockSize)
            return Refuse<ExtentPool>(op, $"pool '{name}': extent size {extentBytes} is not a power of two of at least one {backing.BlockSize}-byte block");
        int extentBlocks = extentBytes / backing.BlockSize;
        if (backing.BlockCount < extentBlocks)
            return Refuse<ExtentPool>(op, $"pool '{name}': volume '{backingVolume}' is smaller than one extent");
        var pool = new ExtentPool(name, backing, extentBlocks);
        backing.BackedPool = pool;
        _pools.Add(name, pool);
        Log.PoolCreated(_log, name, backingVolume, pool.ExtentCount, extentBlocks);
        return EngineResult<ExtentPool>.Ok(pool);
    }

    /// <summary>Deletes a pool no thin volume or snapshot uses; its backing volume becomes exposable again.</summary>
    public EngineResult DeletePool(string name)
    {
        const string op = "delete pool";
        if (!_pools.TryGetValue(name, out ExtentPool? pool))
            return Refuse(op, $"no pool '{name}'");
        if (pool.Users > 0)
            return Refuse(op, $"pool '{name}' holds {pool.Users} thin volume(s) or snapshot(s)");
        pool.Backing.BackedPool = null;
        _pools.Remove(name);
        Log.PoolDeleted(_log, name);
        return EngineResult.Ok;
    }

    /// <summary>Creates a thin volume of <paramref name="sizeBytes"/> virtual bytes in a pool (over-commit allowed).</summary>
    public EngineResult<ThinVolume> CreateThinVolume(string name, string pool, long sizeBytes)
    {
        const string op = "create thin volume";
        string? nameError = CheckNewVolumeName(name);
        if (nameError is not null)
            return Refuse<ThinVolume>(op, nameError);
        if (!_pools.TryGetValue(pool, out ExtentPool? p))
            return Refuse<ThinVolume>(op, $"thin volume '{name}': no pool '{pool}'");
        int bs = p.Backing.BlockSize;
        if (sizeBytes <= 0 || sizeBytes % bs != 0)
            return Refuse<ThinVolume>(op, $"thin volume '{name}': size {sizeBytes} is not a positive multiple of the {bs}-byte block");
        long blocks = sizeBytes / bs;
        if (blocks / p.ExtentBlocks > Array.MaxLength)
            return Refuse<ThinVolume>(op, $"thin volume '{name}': size {sizeBytes} is too large for {p.ExtentBytes}-byte extents");
        var volume = new ThinVolume(_nextVolumeId++, name, p, blocks, _loggerFactory.CreateLogger("PcieVirt.Devices.Raid"));
        p.Users++;
        _volumes.Add(volume);
        Log.ThinCreated(_log, name, pool, blocks);
        return EngineResult<ThinVolume>.Ok(volume);
    }

    /// <summary>Takes a copy-on-write snapshot of a RAID or thin volume, keeping copies in <paramref name="pool"/>.</summary>
    public EngineResult<SnapshotVolume> CreateSnapshot(string name, string origin, string pool, bool writable = false)
    {
        const string op = "create snapshot";
        string? nameError = CheckNewVolumeName(name);
        if (nameError is not null)
            return Refuse<SnapshotVolume>(op, nameError);
        Volume? o = FindVolume(origin);
        if (o is null)
            return Refuse<SnapshotVolume>(op, $"snapshot '{name}': no volume '{origin}'");
        if (o is SnapshotVolume)
            return Refuse<SnapshotVolume>(op, $"snapshot '{name}': '{origin}' is itself a snapshot; snapshots of snapshots are not supported");
        if (o.BackedPool is not null)
            return Refuse<SnapshotVolume>(op, $"snapshot '{name}': '{origin}' backs pool '{o.BackedPool.Name}'");
        if (o.State == VolumeState.Failed)
            return Refuse<SnapshotVolume>(op, $"snapshot '{name}': volume '{origin}' has failed");
        if (!_pools.TryGetValue(pool, out ExtentPool? p))
            return Refuse<SnapshotVolume>(op, $"snapshot '{name}': no pool '{pool}'");
        if (p.Backing.BlockSize != o.BlockSize)
            return Refuse<SnapshotVolume>(op, $"snapshot '{name}': pool '{pool}' has {p.Backing.BlockSize}-byte blocks, '{origin}' has {o.BlockSize}");
        var snapshot = new SnapshotVolume(_nextVolumeId++, name, o, p, writable, _loggerFactory.CreateLogger("PcieVirt.Devices.Raid"));
        o.AddSnapshot(snapshot);
        p.Users++;
        _volumes.Add(snapshot);
        Log.SnapshotCreated(_log, name, origin, writable ? "writable" : "read-only", pool);
        return EngineResult<SnapshotVolume>.Ok(snapshot);
    }

    // ------------------------------------------------------------------ listing

    /// <summary>Every drive with its state and the volume using it.</summary>
    public IReadOnlyList<PhysicalDriveInfo> ListDrives()
    {
        var list = new List<PhysicalDriveInfo>(_driveOrder.Count);
        foreach (PhysicalDrive d in _driveOrder)
        {
            string? volume = OwningVolume(d)?.Name
                ?? (_globalOrDedicatedSpares.TryGetValue(d, out RaidVolume? owner) ? owner?.Name : null);
            list.Add(new PhysicalDriveInfo(d.Name, d.Kind, d.BlockSize, d.BlockCount, DriveStateOf(d), volume, d.ImagePath));
        }
        return list;
    }

    /// <summary>Every volume with its state, size, allocation and layout details.</summary>
    public IReadOnlyList<VolumeInfo> ListVolumes()
    {
        var list = new List<VolumeInfo>(_volumes.Count);
        foreach (Volume v in _volumes)
        {
            (string kind, string detail) = v switch
            {
                RaidVolume r => (LevelName(r.Level).Replace(" ", "").ToLowerInvariant(), DescribeMembers(r)),
                ThinVolume t => ("thin", $"pool {t.Pool.Name}, {t.AllocatedExtents} extents allocated"),
                SnapshotVolume s => ("snapshot", $"of {s.Origin.Name}, pool {s.Pool.Name}, {s.CopiedExtents} extents copied{(s.IsInvalid ? ", invalid" : "")}"),
                _ => ("volume", ""),
            };
            list.Add(new VolumeInfo(v.Id, v.Name, kind, v.State, v.BlockCount, v.BlockSize, v.AllocatedBlocks, v.IsReadOnly,
                v.IsExposable, detail));
        }
        return list;
    }

    /// <summary>The drive's state as listed.</summary>
    public DriveState DriveStateOf(PhysicalDrive drive)
    {
        if (drive.IsFailed)
            return DriveState.Failed;
        if (_globalOrDedicatedSpares.ContainsKey(drive))
            return DriveState.Spare;
        return OwningVolume(drive) is null ? DriveState.Available : DriveState.Member;
    }

    public void Dispose()
    {
        foreach (PhysicalDrive d in _driveOrder)
            d.Dispose();
    }

    // ------------------------------------------------------------------ helpers

    static string DescribeMembers(RaidVolume r)
    {
        var parts = new List<string>(r.MemberCount);
        foreach (RaidMember m in r.Members)
        {
            parts.Add(m.State switch
            {
                MemberState.InSync => m.DriveName,
                MemberState.Missing => $"{m.DriveName}(missing)",
                _ => $"{m.DriveName}(rebuilding {m.RebuiltRows}/{r.RowCount})",
            });
        }
        return $"chunk {r.ChunkBytes} B: " + string.Join(" ", parts);
    }

    static int MinimumMembers(RaidLevel level) => level switch
    {
        RaidLevel.Raid0 => 1,
        RaidLevel.Raid1 => 2,
        RaidLevel.Raid5 => 3,
        RaidLevel.Raid6 => 4,
        _ => 2,
    };

    static string LevelName(RaidLevel level) => $"RAID {(int)level}";

    string? CheckNewVolumeName(string name)
    {
        if (string.IsNullOrWhiteSpace(name))
            return "a volume needs a name";
        return FindVolume(name) is null ? null : $"volume '{name}' already exists";
    }

    string? CheckFreeDrive(string name, string volume, List<PhysicalDrive> chosen)
    {
        if (!_drives.TryGetValue(name, out PhysicalDrive? d))
            return $"volume '{volume}': no drive '{name}'";
        if (chosen.Contains(d))
            return $"volume '{volume}': drive '{name}' is listed twice";
        DriveState state = DriveStateOf(d);
        if (state == DriveState.Available)
            return null;
        string? owner = OwningVolume(d)?.Name
            ?? (_globalOrDedicatedSpares.TryGetValue(d, out RaidVolume? o) ? o?.Name ?? "any volume" : null);
        return state switch
        {
            DriveState.Failed => $"volume '{volume}': drive '{name}' has failed",
            DriveState.Spare => $"volume '{volume}': drive '{name}' is already a hot spare for {owner}",
            _ => $"volume '{volume}': drive '{name}' is already used by volume '{owner}'",
        };
    }

    static string? SpareFits(PhysicalDrive d, RaidVolume r)
    {
        if (d.BlockSize != r.BlockSize)
            return $"drive '{d.Name}' has {d.BlockSize}-byte blocks, volume '{r.Name}' has {r.BlockSize}";
        long needed = r.RowCount * r.ChunkBlocks;
        if (d.BlockCount < needed)
            return $"drive '{d.Name}' holds {d.BlockCount} blocks, volume '{r.Name}' needs {needed} per member";
        return null;
    }

    RaidVolume? OwningVolume(PhysicalDrive drive)
    {
        foreach (Volume v in _volumes)
        {
            if (v is RaidVolume r && r.Contains(drive))
                return r;
        }
        return null;
    }

    int StartRebuild(RaidVolume r)
    {
        int started = 0;
        while (r.NeedsReplacement)
        {
            PhysicalDrive? spare = null;
            foreach (PhysicalDrive s in r.DedicatedSpareList)
            {
                if (!s.IsFailed && SpareFits(s, r) is null)
                {
                    spare = s;
                    break;
                }
            }
            if (spare is null)
            {
                foreach (PhysicalDrive s in _driveOrder)
                {
                    if (_globalOrDedicatedSpares.TryGetValue(s, out RaidVolume? owner) && owner is null && !s.IsFailed && SpareFits(s, r) is null)
                    {
                        spare = s;
                        break;
                    }
                }
            }
            if (spare is null)
                break;
            _globalOrDedicatedSpares.Remove(spare);
            r.DedicatedSpareList.Remove(spare);
            r.BeginRebuild(spare);
            started++;
        }
        return started;
    }

    void StartPendingRebuilds()
    {
        foreach (Volume v in _volumes)
        {
            if (v is RaidVolume r && r.NeedsReplacement)
                StartRebuild(r);
        }
    }

    void OnMemberDropped(RaidVolume volume, PhysicalDrive drive)
    {
        // A member dropped after an I/O error is dead to the controller: fail it so no other volume or spare uses it.
        drive.Fail();
    }

    ulong DeriveSeed(string name)
    {
        // FNV-1a of the name, mixed with the engine seed: stable across runs and independent of creation order.
        ulong h = 0xCBF29CE484222325UL;
        foreach (char c in name)
        {
            h ^= c;
            h *= 0x100000001B3UL;
        }
        return h ^ _seed;
    }

    EngineResult Refuse(string operation, string reason)
    {
        Log.RequestRefused(_log, operation, reason);
        return EngineResult.Fail(reason);
    }

    EngineResult<T> Refuse<T>(string operation, string reason) where T : class
    {
        Log.RequestRefused(_log, operation, reason);
        return EngineResult<T>.Fail(reason);
    }
}
