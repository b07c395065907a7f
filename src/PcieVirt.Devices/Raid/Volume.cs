using Microsoft.Extensions.Logging;

namespace PcieVirt.Devices.Raid;

/// <summary>
/// Base of every volume: argument and range checks, the read-only rule, and the copy-on-write hook that
/// preserves old data for the volume's snapshots before any write, deallocate or write-zeroes reaches it.
/// </summary>
public abstract class Volume : IVolume
{
    readonly List<SnapshotVolume> _snapshots = [];

    private protected Volume(int id, string name, int blockSize, long blockCount, ILogger logger)
    {
        Id = id;
        Name = name;
        BlockSize = blockSize;
        BlockCount = blockCount;
        Logger = logger;
    }

    public int Id { get; }

    public string Name { get; }

    public int BlockSize { get; }

    public long BlockCount { get; }

    public virtual long AllocatedBlocks => BlockCount;

    public virtual bool IsThin => false;

    public virtual bool IsReadOnly => false;

    public abstract VolumeState State { get; }

    /// <summary>Snapshots taken of this volume (their origin).</summary>
    public IReadOnlyList<SnapshotVolume> Snapshots => _snapshots;

    /// <summary>The extent pool this volume stores, or null. A pool's backing volume is internal to the
    /// controller and must not be exposed as a namespace.</summary>
    public ExtentPool? BackedPool { get; internal set; }

    /// <summary>True if the controller may expose this volume as a namespace (it does not back a pool).</summary>
    public bool IsExposable => BackedPool is null;

    private protected ILogger Logger { get; }

    public VolumeResult Read(long lba, int count, Span<byte> destination)
    {
        VolumeStatus check = Check(lba, count, destination.Length);
        if (check != VolumeStatus.Success)
            return VolumeResult.Fail(check);
        if (State == VolumeState.Failed)
            return VolumeResult.Fail(VolumeStatus.MediaError);
        return ReadCore(lba, count, destination[..(count * BlockSize)]);
    }

    public VolumeResult Write(long lba, int count, ReadOnlySpan<byte> source)
    {
        VolumeResult before = BeginChange(lba, count, source.Length);
        if (!before.IsSuccess)
            return before;
        VolumeResult w = WriteCore(lba, count, source[..(count * BlockSize)]);
        return w with { ServiceTimeNs = w.ServiceTimeNs + before.ServiceTimeNs };
    }

    public VolumeResult Flush()
    {
        if (State == VolumeState.Failed)
            return VolumeResult.Fail(VolumeStatus.MediaError);
        return FlushCore();
    }

    public VolumeResult Deallocate(long lba, int count) => Zero(lba, count, deallocate: true);

    public VolumeResult WriteZeroes(long lba, int count) => Zero(lba, count, deallocate: false);

    public override string ToString() => $"{Name} (#{Id}, {BlockCount} x {BlockSize} B, {State})";

    VolumeResult Zero(long lba, int count, bool deallocate)
    {
        VolumeResult before = BeginChange(lba, count, (long)count * BlockSize);
        if (!before.IsSuccess)
            return before;
        VolumeResult w = ZeroCore(lba, count, deallocate);
        return w with { ServiceTimeNs = w.ServiceTimeNs + before.ServiceTimeNs };
    }

    /// <summary>
    /// Checks a change to [lba, lba + count) and preserves the old data for the snapshots; Ok with the
    /// time the preserving took, or the failure that stops the change.
    /// </summary>
    VolumeResult BeginChange(long lba, int count, long bufferLength)
    {
        VolumeStatus check = CheckWrite(lba, count, bufferLength);
        if (check != VolumeStatus.Success)
            return VolumeResult.Fail(check);
        return _snapshots.Count != 0 ? PreserveForSnapshots(lba, count) : VolumeResult.Ok(0);
    }

    VolumeStatus Check(long lba, int count, long bufferLength)
    {
        if (count <= 0 || bufferLength < (long)count * BlockSize)
            return VolumeStatus.InvalidRequest;
        if (lba < 0 || lba > BlockCount - count)
            return VolumeStatus.OutOfRange;
        return VolumeStatus.Success;
    }

    VolumeStatus CheckWrite(long lba, int count, long bufferLength)
    {
        VolumeStatus check = Check(lba, count, bufferLength);
        if (check != VolumeStatus.Success)
            return check;
        if (IsReadOnly)
            return VolumeStatus.ReadOnly;
        if (State == VolumeState.Failed)
            return VolumeStatus.MediaError;
        return VolumeStatus.Success;
    }

    VolumeResult PreserveForSnapshots(long lba, int count)
    {
        long ns = 0;
        foreach (SnapshotVolume snapshot in _snapshots)
        {
            VolumeResult r = snapshot.PreserveOrigin(lba, count);
            if (!r.IsSuccess)
                return r;
            ns += r.ServiceTimeNs;
        }
        return VolumeResult.Ok(ns);
    }

    internal void AddSnapshot(SnapshotVolume snapshot) => _snapshots.Add(snapshot);

    internal void RemoveSnapshot(SnapshotVolume snapshot) => _snapshots.Remove(snapshot);

    /// <summary>Reads a checked range (in range, buffer exactly count × BlockSize, volume not failed).</summary>
    internal abstract VolumeResult ReadCore(long lba, int count, Span<byte> destination);

    /// <summary>Writes a checked range; snapshots are already preserved.</summary>
    internal abstract VolumeResult WriteCore(long lba, int count, ReadOnlySpan<byte> source);

    /// <summary>Zeros (and, where the volume can, deallocates) a checked range; snapshots are already preserved.</summary>
    internal abstract VolumeResult ZeroCore(long lba, int count, bool deallocate);

    internal abstract VolumeResult FlushCore();
}
