using PcieVirt.Fabric;

namespace PcieVirt.Devices.Driver;

/// <summary>
/// A simple first-fit allocator over a range of physical memory (host RAM or a guest's), for host and guest software models (queues, PRP lists,
/// data buffers). Deterministic: the same sequence of calls gives the same addresses. Not thread-safe.
/// </summary>
public sealed class HostMemoryAllocator
{
    readonly List<(ulong Base, ulong Size)> _free = [];
    readonly Dictionary<ulong, ulong> _allocated = [];

    /// <summary>Allocates from [<paramref name="baseAddress"/>, +<paramref name="size"/>) of <paramref name="memory"/>.</summary>
    public HostMemoryAllocator(IPhysicalMemory memory, ulong baseAddress, ulong size)
    {
        if (!memory.Contains(baseAddress, (int)Math.Min(size, int.MaxValue)))
            throw new ArgumentException($"[0x{baseAddress:x}, +0x{size:x}) is not memory");
        Memory = memory;
        Base = baseAddress;
        Size = size;
        _free.Add((baseAddress, size));
    }

    /// <summary>The memory blocks come from (host RAM, or a guest's physical memory).</summary>
    public IPhysicalMemory Memory { get; }
    public ulong Base { get; }
    public ulong Size { get; }
    /// <summary>Bytes currently allocated.</summary>
    public ulong InUse { get; private set; }

    /// <summary>Allocates <paramref name="size"/> bytes aligned to <paramref name="alignment"/> (a power of two), zero-filled.</summary>
    public ulong Allocate(ulong size, ulong alignment = 4096)
    {
        if (size == 0) throw new ArgumentOutOfRangeException(nameof(size));
        if (alignment == 0 || (alignment & (alignment - 1)) != 0) throw new ArgumentException("alignment must be a power of two", nameof(alignment));
        for (int i = 0; i < _free.Count; i++)
        {
            var (b, s) = _free[i];
            ulong start = (b + alignment - 1) & ~(alignment - 1);
            if (start - b > s || s - (start - b) < size) continue;
            _free.RemoveAt(i);
            if (start + size < b + s) _free.Insert(i, (start + size, b + s - start - size));
            if (start > b) _free.Insert(i, (b, start - b));
            _allocated.Add(start, size);
            InUse += size;
            Zero(start, size);
            return start;
        }
        throw new InvalidOperationException($"host memory allocator: no free block of 0x{size:x} bytes aligned to 0x{alignment:x}");
    }

    /// <summary>Returns a block from <see cref="Allocate"/>.</summary>
    public void Free(ulong address)
    {
        if (!_allocated.Remove(address, out ulong size)) throw new ArgumentException($"0x{address:x} was not allocated here");
        InUse -= size;
        int i = 0;
        while (i < _free.Count && _free[i].Base < address) i++;
        _free.Insert(i, (address, size));
        // Coalesce with the neighbours.
        if (i + 1 < _free.Count && _free[i].Base + _free[i].Size == _free[i + 1].Base)
        {
            _free[i] = (_free[i].Base, _free[i].Size + _free[i + 1].Size);
            _free.RemoveAt(i + 1);
        }
        if (i > 0 && _free[i - 1].Base + _free[i - 1].Size == _free[i].Base)
        {
            _free[i - 1] = (_free[i - 1].Base, _free[i - 1].Size + _free[i].Size);
            _free.RemoveAt(i);
        }
    }

    void Zero(ulong address, ulong size)
    {
        Span<byte> zeros = stackalloc byte[512];
        zeros.Clear();
        while (size > 0)
        {
            int n = (int)Math.Min(size, 512UL);
            Memory.Write(address, zeros[..n]);
            address += (ulong)n;
            size -= (ulong)n;
        }
    }
}
