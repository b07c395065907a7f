namespace PcieVirt.Hypervisor.Storage;

/// <summary>
/// An open file of a <see cref="Vmfs"/> volume (a guest's virtual disk), holding the host's lock. Its block map
/// is kept in memory, so mapping a file offset to a device LBA reads no metadata and allocates nothing.
/// </summary>
public sealed class VmfsFile
{
    readonly Vmfs _volume;
    readonly ulong _blocksPerFileBlock;
    readonly int _shift;
    readonly int _deviceBlockSize;
    bool _closed;

    internal VmfsFile(Vmfs volume, int slot, string name, ulong size, bool thin, uint[] map, ulong lockOwner)
    {
        _volume = volume;
        Slot = slot;
        Name = name;
        Size = size;
        Thin = thin;
        Map = map;
        LockOwner = lockOwner;
        _deviceBlockSize = volume.Device.BlockSize;
        _blocksPerFileBlock = (ulong)(volume.FileBlockSize / _deviceBlockSize);
        _shift = System.Numerics.BitOperations.Log2((uint)volume.FileBlockSize);
    }

    internal int Slot { get; }
    /// <summary>Volume block of each file block (0 = not allocated: a hole).</summary>
    internal uint[] Map { get; }

    /// <summary>The volume the file is on.</summary>
    public Vmfs Volume => _volume;
    /// <summary>File name.</summary>
    public string Name { get; }
    /// <summary>Logical size in bytes.</summary>
    public ulong Size { get; }
    /// <summary>Thin: blocks are allocated (and zeroed) on first write; otherwise eager-zeroed at creation.</summary>
    public bool Thin { get; }
    /// <summary>Host holding the lock through this handle.</summary>
    public ulong LockOwner { get; }
    /// <summary>File blocks currently allocated.</summary>
    public int AllocatedBlocks
    {
        get
        {
            int n = 0;
            foreach (uint b in Map) if (b != 0) n++;
            return n;
        }
    }
    /// <summary>False after <see cref="Close"/>.</summary>
    public bool IsOpen => !_closed;

    /// <summary>
    /// Maps <paramref name="fileOffset"/> (a multiple of the device block size, inside the file) to the device LBA
    /// and the bytes from there that stay in the same file block (at most <paramref name="length"/>, never past the
    /// end of the file). False for a hole (an unallocated block of a thin file): <paramref name="deviceLba"/> is 0,
    /// <paramref name="contiguousBytes"/> still says how far the hole reaches. Allocates nothing, reads no metadata.
    /// </summary>
    public bool TryMap(ulong fileOffset, int length, out ulong deviceLba, out int contiguousBytes)
    {
        CheckRange(fileOffset, length);
        ulong index = fileOffset >> _shift;
        ulong within = fileOffset & (ulong)(_volume.FileBlockSize - 1);
        ulong toBlockEnd = (ulong)_volume.FileBlockSize - within;
        contiguousBytes = (int)Math.Min(Math.Min((ulong)length, toBlockEnd), Size - fileOffset);
        uint block = Map[index];
        if (block == 0)
        {
            deviceLba = 0;
            return false;
        }
        deviceLba = block * _blocksPerFileBlock + within / (ulong)_deviceBlockSize;
        return true;
    }

    /// <summary>
    /// Like <see cref="TryMap"/> for a write: a hole gets a block first (zeroed, metadata written synchronously).
    /// False only when the volume has no free block (or pointer block) left.
    /// </summary>
    public bool TryMapForWrite(ulong fileOffset, int length, out ulong deviceLba, out int contiguousBytes)
    {
        if (TryMap(fileOffset, length, out deviceLba, out contiguousBytes)) return true;
        if (_closed) throw new InvalidOperationException($"'{Name}' is closed");
        if (!_volume.AllocateBlock(this, (long)(fileOffset >> _shift))) return false;
        return TryMap(fileOffset, length, out deviceLba, out contiguousBytes);
    }

    /// <summary>Releases the host's lock (owner cleared, generation + 1) and the handle.</summary>
    public void Close()
    {
        if (_closed) return;
        _closed = true;
        _volume.Release(this);
    }

    void CheckRange(ulong fileOffset, int length)
    {
        if (fileOffset >= Size || length <= 0)
            throw new ArgumentOutOfRangeException(nameof(fileOffset), $"offset {fileOffset} (+{length}) is outside '{Name}' ({Size} bytes)");
        if (fileOffset % (ulong)_deviceBlockSize != 0)
            throw new ArgumentException($"offset {fileOffset} is not a multiple of the device block size {_deviceBlockSize}", nameof(fileOffset));
    }
}
