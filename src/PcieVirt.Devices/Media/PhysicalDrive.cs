using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace PcieVirt.Devices.Media;

/// <summary>
/// A direct-attached drive: an <see cref="IBlockStore"/> (sparse memory or an image file) priced by an
/// <see cref="ILatencyModel"/>, with a failed state. A failed drive refuses every request; a host I/O error
/// on its image file fails the drive (as a controller drops a drive that returns a hard error).
/// </summary>
public sealed class PhysicalDrive : IBlockDevice, IDisposable
{
    readonly IBlockStore _store;
    ILatencyModel _latency;
    readonly ILogger _log;

    /// <summary>Wraps a store and a latency model. <paramref name="blockSize"/> must be 512 or 4096.</summary>
    public PhysicalDrive(string name, DriveKind kind, int blockSize, IBlockStore store, ILatencyModel latency, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (blockSize is not (512 or 4096))
            throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, "block size must be 512 or 4096");
        if (store.Length < blockSize)
            throw new ArgumentOutOfRangeException(nameof(store), "store smaller than one block");
        Name = name;
        Kind = kind;
        BlockSize = blockSize;
        BlockCount = store.Length / blockSize;
        _store = store;
        _latency = latency;
        _log = logger ?? NullLogger.Instance;
    }

    /// <summary>An in-memory sparse drive of <paramref name="blockCount"/> blocks with the default latency model of its kind.</summary>
    public static PhysicalDrive CreateInMemory(string name, DriveKind kind, int blockSize, long blockCount, ulong seed, ILogger? logger = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockCount);
        return new PhysicalDrive(name, kind, blockSize, new SparseMemoryStore(blockCount * blockSize),
            DefaultLatency(kind, blockCount, seed), logger);
    }

    /// <summary>The default latency model for a kind of drive.</summary>
    public static ILatencyModel DefaultLatency(DriveKind kind, long blockCount, ulong seed) => kind switch
    {
        DriveKind.Optane => new SolidStateLatencyModel(SolidStateLatencyParameters.Optane, seed),
        DriveKind.Hdd => new HddLatencyModel(HddLatencyParameters.Enterprise7200, blockCount, seed),
        _ => new SolidStateLatencyModel(SolidStateLatencyParameters.NandFlash, seed),
    };

    public string Name { get; }

    public DriveKind Kind { get; private set; }

    /// <summary>
    /// Swaps the drive's media for another kind with the same contents (a what-if experiment: the same
    /// array on Optane-class, NAND or disk media). <paramref name="latency"/> null takes the kind's default.
    /// </summary>
    public void ChangeMedia(DriveKind kind, ILatencyModel? latency = null, ulong seed = 0)
    {
        Kind = kind;
        _latency = latency ?? DefaultLatency(kind, BlockCount, seed);
    }

    public int BlockSize { get; }

    public long BlockCount { get; }

    public bool IsFailed { get; private set; }

    /// <summary>Bytes of storage holding data (sparse stores allocate on first write).</summary>
    public long AllocatedBytes => _store.AllocatedBytes;

    /// <summary>The image file, or null for an in-memory drive.</summary>
    public string? ImagePath => (_store as FileImageStore)?.Path;

    /// <summary>Completed read requests.</summary>
    public long ReadCount { get; private set; }

    /// <summary>Completed write requests.</summary>
    public long WriteCount { get; private set; }

    /// <summary>Blocks read by completed requests.</summary>
    public long BlocksRead { get; private set; }

    /// <summary>Blocks written by completed requests.</summary>
    public long BlocksWritten { get; private set; }

    /// <summary>Sum of the service times of all completed requests.</summary>
    public long BusyTimeNs { get; private set; }

    /// <summary>Puts the drive in the failed state (by command, or after an I/O error).</summary>
    public void Fail()
    {
        if (IsFailed)
            return;
        IsFailed = true;
        Log.DriveFailed(_log, Name);
    }

    public MediaResult Read(long lba, int count, Span<byte> destination)
    {
        if (IsFailed)
            return new MediaResult(MediaStatus.DriveFailed, 0);
        if (!InRange(lba, count) || destination.Length < (long)count * BlockSize)
            return new MediaResult(MediaStatus.OutOfRange, 0);
        try
        {
            _store.Read(lba * BlockSize, destination[..(count * BlockSize)]);
        }
        catch (IOException ex)
        {
            return IoFault(ex, "read", lba, count);
        }
        ReadCount++;
        BlocksRead += count;
        return Charge(MediaOperation.Read, lba, count);
    }

    public MediaResult Write(long lba, int count, ReadOnlySpan<byte> source)
    {
        if (IsFailed)
            return new MediaResult(MediaStatus.DriveFailed, 0);
        if (!InRange(lba, count) || source.Length < (long)count * BlockSize)
            return new MediaResult(MediaStatus.OutOfRange, 0);
        try
        {
            _store.Write(lba * BlockSize, source[..(count * BlockSize)]);
        }
        catch (IOException ex)
        {
            return IoFault(ex, "write", lba, count);
        }
        WriteCount++;
        BlocksWritten += count;
        return Charge(MediaOperation.Write, lba, count);
    }

    public MediaResult Flush()
    {
        if (IsFailed)
            return new MediaResult(MediaStatus.DriveFailed, 0);
        try
        {
            _store.Flush();
        }
        catch (IOException ex)
        {
            return IoFault(ex, "flush", 0, 0);
        }
        return Charge(MediaOperation.Flush, 0, 0);
    }

    public MediaResult Trim(long lba, int count)
    {
        if (IsFailed)
            return new MediaResult(MediaStatus.DriveFailed, 0);
        if (!InRange(lba, count))
            return new MediaResult(MediaStatus.OutOfRange, 0);
        try
        {
            _store.Zero(lba * BlockSize, (long)count * BlockSize);
        }
        catch (IOException ex)
        {
            return IoFault(ex, "trim", lba, count);
        }
        return Charge(MediaOperation.Trim, lba, count);
    }

    public void Dispose() => _store.Dispose();

    public override string ToString() => $"{Name} ({Kind}, {BlockCount} x {BlockSize} B{(IsFailed ? ", failed" : "")})";

    bool InRange(long lba, int count) => lba >= 0 && count > 0 && lba <= BlockCount - count;

    MediaResult Charge(MediaOperation operation, long lba, int count)
    {
        long ns = _latency.ServiceTime(operation, lba, count, BlockSize);
        BusyTimeNs += ns;
        return new MediaResult(MediaStatus.Success, ns);
    }

    MediaResult IoFault(IOException ex, string operation, long lba, int count)
    {
        Log.DriveIoError(_log, ex, Name, operation, lba, count);
        Fail();
        return new MediaResult(MediaStatus.DriveFailed, 0);
    }
}
