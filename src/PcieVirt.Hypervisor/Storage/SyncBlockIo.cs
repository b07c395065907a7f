using PcieVirt.Devices.Nvme;

namespace PcieVirt.Hypervisor.Storage;

/// <summary>A block device with synchronous I/O, for file system metadata (format, mount, allocation).</summary>
public interface ISyncBlockIo
{
    /// <summary>Bytes per logical block.</summary>
    int BlockSize { get; }
    /// <summary>Logical blocks on the device.</summary>
    ulong BlockCount { get; }
    /// <summary>Reads <paramref name="data"/>.Length bytes (whole blocks) from <paramref name="lba"/>.</summary>
    void Read(ulong lba, Span<byte> data);
    /// <summary>Writes whole blocks at <paramref name="lba"/>.</summary>
    void Write(ulong lba, ReadOnlySpan<byte> data);
    /// <summary>Makes completed writes durable.</summary>
    void Flush();
}

/// <summary>An I/O error of an <see cref="ISyncBlockIo"/> (the device reported a failure status).</summary>
public sealed class BlockIoException(string message) : Exception(message);

/// <summary>
/// A sparse in-memory block device for tests: storage is kept in 64 KiB chunks created on first write of
/// non-zero data, so a large volume costs only what is written. Counts reads and writes.
/// </summary>
public sealed class MemoryBlockDevice : ISyncBlockIo
{
    const int ChunkBytes = 64 * 1024;
    readonly Dictionary<ulong, byte[]> _chunks = [];

    /// <summary>A zero-filled device of <paramref name="blockCount"/> blocks of <paramref name="blockSize"/> bytes.</summary>
    public MemoryBlockDevice(int blockSize, ulong blockCount)
    {
        if (blockSize < 512 || blockSize > ChunkBytes || (blockSize & (blockSize - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(blockSize), "block size must be a power of two in 512..65536");
        BlockSize = blockSize;
        BlockCount = blockCount;
    }

    /// <inheritdoc/>
    public int BlockSize { get; }
    /// <inheritdoc/>
    public ulong BlockCount { get; }
    /// <summary>Read calls so far.</summary>
    public long Reads { get; private set; }
    /// <summary>Write calls so far.</summary>
    public long Writes { get; private set; }
    /// <summary>Flush calls so far.</summary>
    public long Flushes { get; private set; }

    /// <inheritdoc/>
    public void Read(ulong lba, Span<byte> data)
    {
        ulong at = Check(lba, data.Length);
        Reads++;
        int done = 0;
        while (done < data.Length)
        {
            ulong chunk = (at + (ulong)done) / ChunkBytes;
            int off = (int)((at + (ulong)done) % ChunkBytes);
            int n = Math.Min(ChunkBytes - off, data.Length - done);
            if (_chunks.TryGetValue(chunk, out var c)) c.AsSpan(off, n).CopyTo(data.Slice(done, n));
            else data.Slice(done, n).Clear();
            done += n;
        }
    }

    /// <inheritdoc/>
    public void Write(ulong lba, ReadOnlySpan<byte> data)
    {
        ulong at = Check(lba, data.Length);
        Writes++;
        int done = 0;
        while (done < data.Length)
        {
            ulong chunk = (at + (ulong)done) / ChunkBytes;
            int off = (int)((at + (ulong)done) % ChunkBytes);
            int n = Math.Min(ChunkBytes - off, data.Length - done);
            var src = data.Slice(done, n);
            if (!_chunks.TryGetValue(chunk, out var c))
            {
                if (!src.ContainsAnyExcept((byte)0)) { done += n; continue; }
                _chunks[chunk] = c = new byte[ChunkBytes];
            }
            src.CopyTo(c.AsSpan(off, n));
            done += n;
        }
    }

    /// <inheritdoc/>
    public void Flush() => Flushes++;

    ulong Check(ulong lba, int length)
    {
        if (length % BlockSize != 0) throw new ArgumentException($"{length} bytes is not a whole number of {BlockSize}-byte blocks");
        ulong blocks = (ulong)(length / BlockSize);
        if (lba > BlockCount || blocks > BlockCount - lba)
            throw new ArgumentOutOfRangeException(nameof(lba), $"blocks [{lba}, +{blocks}) are outside the device ({BlockCount} blocks)");
        return lba * (ulong)BlockSize;
    }
}

/// <summary>An <see cref="ISyncBlockIo"/> over a <see cref="HostBlockLayer"/>'s synchronous helpers (metadata I/O on the host).</summary>
public sealed class HostBlockDevice(HostBlockLayer layer) : ISyncBlockIo
{
    /// <summary>The block layer the I/O goes through.</summary>
    public HostBlockLayer Layer => layer;
    /// <inheritdoc/>
    public int BlockSize => layer.BlockSize;
    /// <inheritdoc/>
    public ulong BlockCount => layer.BlockCount;

    /// <inheritdoc/>
    public void Read(ulong lba, Span<byte> data) => Check(layer.ReadSync(lba, data), "read", lba);
    /// <inheritdoc/>
    public void Write(ulong lba, ReadOnlySpan<byte> data) => Check(layer.WriteSync(lba, data), "write", lba);
    /// <inheritdoc/>
    public void Flush() => Check(layer.FlushSync(), "flush", 0);

    void Check(NvmeStatus status, string what, ulong lba)
    {
        if (!status.IsSuccess) throw new BlockIoException($"{layer.Driver.Address} ns {layer.Nsid}: {what} at LBA {lba} failed: {status}");
    }
}
