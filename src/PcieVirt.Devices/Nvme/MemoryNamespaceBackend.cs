namespace PcieVirt.Devices.Nvme;

/// <summary>Fixed service times of a <see cref="MemoryNamespaceBackend"/> (virtual nanoseconds).</summary>
public sealed record MemoryBackendTiming
{
    /// <summary>Per-command time of a read.</summary>
    public ulong ReadNs { get; init; } = 10_000;
    /// <summary>Per-command time of a write.</summary>
    public ulong WriteNs { get; init; } = 12_000;
    /// <summary>Added per KiB transferred (reads and writes).</summary>
    public ulong PerKibNs { get; init; } = 250;
    /// <summary>Time of a flush, a deallocate and a write zeroes.</summary>
    public ulong OtherNs { get; init; } = 2_000;
}

/// <summary>
/// An in-memory namespace: blocks stored sparsely in 64 KiB chunks created on first write, so a large
/// namespace costs nothing until used; unwritten and deallocated blocks read as zeros. Service times are
/// fixed per operation (<see cref="MemoryBackendTiming"/>), so results are deterministic. Counts every
/// operation (for tests). Reads and writes of touched chunks allocate nothing.
/// </summary>
public sealed class MemoryNamespaceBackend : INamespaceBackend
{
    const int ChunkSize = 64 * 1024;
    readonly Dictionary<ulong, byte[]> _chunks = [];
    readonly MemoryBackendTiming _timing;

    /// <summary>A namespace of <paramref name="blockCount"/> blocks of <paramref name="blockSize"/> bytes.</summary>
    public MemoryNamespaceBackend(ulong blockCount, int blockSize = 512, MemoryBackendTiming? timing = null)
    {
        if (blockSize is < 512 or > 65536 || (blockSize & (blockSize - 1)) != 0)
            throw new ArgumentException($"block size {blockSize} is not a power of two in 512..65536", nameof(blockSize));
        if (blockCount == 0) throw new ArgumentException("a namespace has at least one block", nameof(blockCount));
        BlockSize = blockSize;
        BlockCount = blockCount;
        _timing = timing ?? new MemoryBackendTiming();
    }

    public int BlockSize { get; }
    public ulong BlockCount { get; }

    /// <summary>Operations served, by kind.</summary>
    public long Reads { get; private set; }
    public long Writes { get; private set; }
    public long Flushes { get; private set; }
    public long Deallocates { get; private set; }
    public long WriteZeroesCount { get; private set; }

    /// <summary>Chunks currently holding data.</summary>
    public int AllocatedChunks => _chunks.Count;

    /// <summary>When set, every read completes with this status instead (fault injection for tests).</summary>
    public NvmeStatus? InjectReadStatus { get; set; }
    /// <summary>When set, every write completes with this status instead (fault injection for tests).</summary>
    public NvmeStatus? InjectWriteStatus { get; set; }

    public NvmeBackendResult Read(ulong lba, Span<byte> destination)
    {
        Reads++;
        if (InjectReadStatus is { } bad) return new NvmeBackendResult(bad, _timing.ReadNs);
        int length = destination.Length;
        ulong at = lba * (ulong)BlockSize;
        while (!destination.IsEmpty)
        {
            int inChunk = (int)(at % ChunkSize);
            int n = Math.Min(destination.Length, ChunkSize - inChunk);
            if (_chunks.TryGetValue(at / ChunkSize, out var c)) c.AsSpan(inChunk, n).CopyTo(destination);
            else destination[..n].Clear();
            destination = destination[n..];
            at += (ulong)n;
        }
        return NvmeBackendResult.Ok(_timing.ReadNs + TransferNs(length));
    }

    public NvmeBackendResult Write(ulong lba, ReadOnlySpan<byte> source)
    {
        Writes++;
        if (InjectWriteStatus is { } bad) return new NvmeBackendResult(bad, _timing.WriteNs);
        int length = source.Length;
        ulong at = lba * (ulong)BlockSize;
        while (!source.IsEmpty)
        {
            int inChunk = (int)(at % ChunkSize);
            int n = Math.Min(source.Length, ChunkSize - inChunk);
            source[..n].CopyTo(Chunk(at / ChunkSize).AsSpan(inChunk, n));
            source = source[n..];
            at += (ulong)n;
        }
        return NvmeBackendResult.Ok(_timing.WriteNs + TransferNs(length));
    }

    public NvmeBackendResult Flush()
    {
        Flushes++; // memory is as durable as it gets here
        return NvmeBackendResult.Ok(_timing.OtherNs);
    }

    public NvmeBackendResult Deallocate(ulong lba, ulong blockCount)
    {
        Deallocates++;
        Zero(lba, blockCount, dropWholeChunks: true);
        return NvmeBackendResult.Ok(_timing.OtherNs);
    }

    public NvmeBackendResult WriteZeroes(ulong lba, ulong blockCount)
    {
        WriteZeroesCount++;
        Zero(lba, blockCount, dropWholeChunks: true);
        return NvmeBackendResult.Ok(_timing.OtherNs);
    }

    /// <summary>Reads bytes directly (for tests and tools; not a namespace operation).</summary>
    public void Peek(ulong byteOffset, Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            int inChunk = (int)(byteOffset % ChunkSize);
            int n = Math.Min(destination.Length, ChunkSize - inChunk);
            if (_chunks.TryGetValue(byteOffset / ChunkSize, out var c)) c.AsSpan(inChunk, n).CopyTo(destination);
            else destination[..n].Clear();
            destination = destination[n..];
            byteOffset += (ulong)n;
        }
    }

    /// <summary>Writes bytes directly (for tests and tools; not a namespace operation).</summary>
    public void Poke(ulong byteOffset, ReadOnlySpan<byte> source)
    {
        while (!source.IsEmpty)
        {
            int inChunk = (int)(byteOffset % ChunkSize);
            int n = Math.Min(source.Length, ChunkSize - inChunk);
            source[..n].CopyTo(Chunk(byteOffset / ChunkSize).AsSpan(inChunk, n));
            source = source[n..];
            byteOffset += (ulong)n;
        }
    }

    byte[] Chunk(ulong index)
    {
        if (!_chunks.TryGetValue(index, out var c))
        {
            c = new byte[ChunkSize];
            _chunks.Add(index, c);
        }
        return c;
    }

    void Zero(ulong lba, ulong blockCount, bool dropWholeChunks)
    {
        ulong at = lba * (ulong)BlockSize, end = at + blockCount * (ulong)BlockSize;
        while (at < end)
        {
            ulong index = at / ChunkSize;
            int inChunk = (int)(at % ChunkSize);
            int n = (int)Math.Min(end - at, (ulong)(ChunkSize - inChunk));
            if (_chunks.TryGetValue(index, out var c))
            {
                if (dropWholeChunks && n == ChunkSize) _chunks.Remove(index);
                else c.AsSpan(inChunk, n).Clear();
            }
            at += (ulong)n;
        }
    }

    ulong TransferNs(int bytes) => (ulong)(bytes + 1023) / 1024 * _timing.PerKibNs;
}
