using System.Numerics;
using Microsoft.Extensions.Logging;
using PcieVirt.Devices.Media;

namespace PcieVirt.Devices.Raid;

/// <summary>
/// RAID 5 (P) and RAID 6 (P + Q) in Linux md's default left-symmetric layout. With N slots, K = N − m data
/// chunks per stripe (m = 1 or 2) and stripe s occupying row s of every member:
/// <list type="bullet">
/// <item>P is on slot N − 1 − (s mod N): the parity rotates from the last slot towards the first;</item>
/// <item>RAID 6: Q is on the slot after P, (P + 1) mod N;</item>
/// <item>data index i (0 … K − 1) is on slot (P + m + i) mod N: data continues after the parity, wrapping;</item>
/// <item>volume chunk k is data index k mod K of stripe k div K.</item>
/// </list>
/// P = D_0 ⊕ … ⊕ D_{K−1}; Q = Σ g^i·D_i over GF(2^8) (<see cref="GaloisField"/>), i being the data index,
/// which is also the order md uses (its syndrome disks start right after Q).
/// Writes update parity by read-modify-write or reconstruct-write, whichever reads fewer chunks and is
/// possible with the members present; reads of a missing member reconstruct from the survivors.
/// </summary>
public sealed class ParityVolume : RaidVolume
{
    readonly int _parity;   // m: 1 for RAID 5, 2 for RAID 6
    readonly int _data;     // K
    readonly int[] _x0;     // per data index: first row of its piece in the current window, or −1
    readonly int[] _x1;     // per data index: end row (exclusive)

    internal ParityVolume(int id, string name, RaidLevel level, IReadOnlyList<PhysicalDrive> drives, int chunkBlocks, ILogger logger)
        : base(id, name, level, drives, chunkBlocks, Capacity(level, drives, chunkBlocks),
            drives.Count - ParityCount(level) + 2, logger)
    {
        _parity = ParityCount(level);
        _data = drives.Count - _parity;
        _x0 = new int[_data];
        _x1 = new int[_data];
    }

    /// <summary>Parity chunks per stripe: 1 for RAID 5, 2 for RAID 6.</summary>
    public static int ParityCount(RaidLevel level) => level == RaidLevel.Raid6 ? 2 : 1;

    /// <summary>Volume size in blocks: rows × (N − m) × C.</summary>
    public static long Capacity(RaidLevel level, IReadOnlyList<PhysicalDrive> drives, int chunkBlocks) =>
        drives.Min(d => d.BlockCount) / chunkBlocks * (drives.Count - ParityCount(level)) * chunkBlocks;

    /// <summary>Data chunks per stripe (K).</summary>
    public int DataChunksPerStripe => _data;

    public override int FaultTolerance => _parity;

    /// <summary>Slot holding P of <paramref name="stripe"/>.</summary>
    public int ParitySlot(long stripe) => MemberCount - 1 - (int)(stripe % MemberCount);

    /// <summary>Slot holding Q of <paramref name="stripe"/> (RAID 6), or −1 (RAID 5).</summary>
    public int QSlot(long stripe) => _parity == 2 ? (ParitySlot(stripe) + 1) % MemberCount : -1;

    /// <summary>Slot holding data index <paramref name="index"/> of <paramref name="stripe"/>.</summary>
    public int DataSlot(long stripe, int index) => (ParitySlot(stripe) + _parity + index) % MemberCount;

    public override RaidLocation Locate(long lba, int copy = 0)
    {
        long chunk = lba / ChunkBlocks;
        long stripe = chunk / _data;
        return new RaidLocation(DataSlot(stripe, (int)(chunk % _data)), stripe * ChunkBlocks + lba % ChunkBlocks);
    }

    // ---------------------------------------------------------------- read

    private protected override bool ReadOnce(long lba, int count, Span<byte> destination)
    {
        var reader = new WindowReader(this, destination);
        return ForEachWindow(lba, count, ref reader);
    }

    readonly ref struct WindowReader(ParityVolume volume, Span<byte> destination) : IWindowVisitor
    {
        readonly Span<byte> _destination = destination;

        public bool Visit(long stripe, long stripeOffset, int r0, int r1) =>
            volume.ReadWindow(stripe, stripeOffset, r0, r1, _destination);
    }

    bool ReadWindow(long stripe, long stripeOffset, int r0, int r1, Span<byte> destination)
    {
        int bs = BlockSize;
        long rowLba = stripe * ChunkBlocks;
        bool degraded = false;
        // DataSlot(stripe, i) without a division per chunk: the first data slot follows P (and Q), then wraps.
        int first = DataSlot(stripe, 0), members = MemberCount;
        for (int i = 0; i < _data; i++)
        {
            int slot = first + i < members ? first + i : first + i - members;
            if (_x0[i] >= 0 && !Readable(slot, stripe))
                degraded = true;
        }
        if (!degraded)
        {
            for (int i = 0; i < _data; i++)
            {
                if (_x0[i] < 0)
                    continue;
                int n = _x1[i] - _x0[i];
                long dst = stripeOffset + (long)i * ChunkBlocks + _x0[i];
                int slot = first + i < members ? first + i : first + i - members;
                if (!DriveRead(slot, rowLba + _x0[i], n, destination.Slice((int)(dst * bs), n * bs)))
                    return false;
            }
            return true;
        }

        int rows = r1 - r0;
        if (!ReadDataRows(stripe, rowLba + r0, rows, out ulong missing) || !Recover(stripe, missing, rowLba + r0, rows))
            return false;
        for (int i = 0; i < _data; i++)
        {
            if (_x0[i] < 0)
                continue;
            int n = _x1[i] - _x0[i];
            long dst = stripeOffset + (long)i * ChunkBlocks + _x0[i];
            Scratch(i).Slice((_x0[i] - r0) * bs, n * bs).CopyTo(destination.Slice((int)(dst * bs), n * bs));
        }
        return true;
    }

    // ---------------------------------------------------------------- write

    private protected override bool WriteOnce(long lba, int count, ReadOnlySpan<byte> source)
    {
        var writer = new WindowWriter(this, source);
        return ForEachWindow(lba, count, ref writer);
    }

    readonly ref struct WindowWriter(ParityVolume volume, ReadOnlySpan<byte> source) : IWindowVisitor
    {
        readonly ReadOnlySpan<byte> _source = source;

        public bool Visit(long stripe, long stripeOffset, int r0, int r1) =>
            volume.WriteWindow(stripe, stripeOffset, r0, r1, _source);
    }

    enum WriteMode { DataOnly, ReadModifyWrite, ReconstructWrite, Degraded }

    bool WriteWindow(long stripe, long stripeOffset, int r0, int r1, ReadOnlySpan<byte> source)
    {
        int bs = BlockSize;
        int rows = r1 - r0;
        int len = rows * bs;
        long rowLba = stripe * ChunkBlocks;
        int p = ParitySlot(stripe), q = QSlot(stripe);
        bool pWrite = Writable(p), qWrite = q >= 0 && Writable(q);
        Span<byte> pBuf = Scratch(_data)[..len];
        Span<byte> qBuf = Scratch(_data + 1)[..len];

        WriteMode mode = ChooseWriteMode(stripe, r0, r1, pWrite, qWrite);
        switch (mode)
        {
            case WriteMode.ReadModifyWrite:
                // new P = old P ⊕ Σ Δ_i, new Q = old Q ⊕ Σ g^i·Δ_i, with Δ_i = old D_i ⊕ new D_i.
                if (pWrite && !DriveRead(p, rowLba + r0, rows, pBuf))
                    return false;
                if (qWrite && !DriveRead(q, rowLba + r0, rows, qBuf))
                    return false;
                for (int i = 0; i < _data; i++)
                {
                    if (_x0[i] < 0)
                        continue;
                    int n = _x1[i] - _x0[i];
                    int at = (_x0[i] - r0) * bs;
                    Span<byte> delta = Scratch(i).Slice(at, n * bs);
                    if (!DriveRead(DataSlot(stripe, i), rowLba + _x0[i], n, delta))
                        return false;
                    Parity.Xor(NewData(source, stripeOffset, i), delta);
                    if (pWrite)
                        Parity.Xor(delta, pBuf.Slice(at, n * bs));
                    if (qWrite)
                        GaloisField.MultiplyXor(GaloisField.Power(i), delta, qBuf.Slice(at, n * bs));
                }
                break;

            case WriteMode.ReconstructWrite:
                for (int i = 0; i < _data; i++)
                {
                    Span<byte> d = Scratch(i)[..len];
                    if (_x0[i] < 0)
                    {
                        if (!DriveRead(DataSlot(stripe, i), rowLba + r0, rows, d))
                            return false;
                        continue;
                    }
                    if (_x0[i] > r0 && !DriveRead(DataSlot(stripe, i), rowLba + r0, _x0[i] - r0, d[..((_x0[i] - r0) * bs)]))
                        return false;
                    if (_x1[i] < r1 && !DriveRead(DataSlot(stripe, i), rowLba + _x1[i], r1 - _x1[i], d[((_x1[i] - r0) * bs)..]))
                        return false;
                    NewData(source, stripeOffset, i).CopyTo(d[((_x0[i] - r0) * bs)..]);
                }
                Parity.Compute(ScratchAll, _data, ScratchStride, len, pBuf, qWrite ? qBuf : []);
                break;

            case WriteMode.Degraded:
                // Some chunk needed for the new parity is on a missing member: reconstruct the whole rows,
                // lay the new data over them, and compute the parity afresh.
                if (!ReadDataRows(stripe, rowLba + r0, rows, out ulong missing) || !Recover(stripe, missing, rowLba + r0, rows))
                    return false;
                for (int i = 0; i < _data; i++)
                {
                    if (_x0[i] >= 0)
                        NewData(source, stripeOffset, i).CopyTo(Scratch(i)[((_x0[i] - r0) * bs)..]);
                }
                Parity.Compute(ScratchAll, _data, ScratchStride, len, pBuf, qWrite ? qBuf : []);
                break;
        }

        for (int i = 0; i < _data; i++)
        {
            int slot = DataSlot(stripe, i);
            if (_x0[i] >= 0 && Writable(slot)
                && !DriveWrite(slot, rowLba + _x0[i], _x1[i] - _x0[i], NewData(source, stripeOffset, i)))
                return false;
        }
        if (mode == WriteMode.DataOnly)
            return true;
        if (pWrite && !DriveWrite(p, rowLba + r0, rows, pBuf))
            return false;
        if (qWrite && !DriveWrite(q, rowLba + r0, rows, qBuf))
            return false;
        return true;
    }

    WriteMode ChooseWriteMode(long stripe, int r0, int r1, bool pWrite, bool qWrite)
    {
        if (!pWrite && !qWrite)
            return WriteMode.DataOnly;

        // Read-modify-write reads the old contents of every written piece and of each parity it updates.
        bool rmw = true;
        int rmwReads = 0;
        // Reconstruct-write reads the rows of [r0, r1) that the request does not supply.
        bool rcw = true;
        int rcwReads = 0;
        for (int i = 0; i < _data; i++)
        {
            bool readable = Readable(DataSlot(stripe, i), stripe);
            if (_x0[i] >= 0)
            {
                rmwReads++;
                rmw &= readable;
            }
            if (_x0[i] < 0 || _x0[i] > r0 || _x1[i] < r1)
            {
                rcwReads++;
                rcw &= readable;
            }
        }
        if (pWrite)
        {
            rmwReads++;
            rmw &= Readable(ParitySlot(stripe), stripe);
        }
        if (qWrite)
        {
            rmwReads++;
            rmw &= Readable(QSlot(stripe), stripe);
        }
        // On a tie read-modify-write wins (md picks reconstruct-write): the same member work, but it touches
        // only the members it writes, leaving the others free, and re-reads what it is about to overwrite.
        if (rmw && (!rcw || rmwReads <= rcwReads))
            return WriteMode.ReadModifyWrite;
        return rcw ? WriteMode.ReconstructWrite : WriteMode.Degraded;
    }

    ReadOnlySpan<byte> NewData(ReadOnlySpan<byte> source, long stripeOffset, int i)
    {
        long block = stripeOffset + (long)i * ChunkBlocks + _x0[i];
        return source.Slice((int)(block * BlockSize), (_x1[i] - _x0[i]) * BlockSize);
    }

    // ---------------------------------------------------------------- zero / deallocate

    private protected override bool ZeroOnce(long lba, int count)
    {
        long stripeBlocks = (long)_data * ChunkBlocks;
        long end = lba + count;
        long firstFull = (lba + stripeBlocks - 1) / stripeBlocks;
        long endFull = end / stripeBlocks;
        if (firstFull >= endFull)
            return base.ZeroOnce(lba, count);
        // Whole stripes: trim every member (zero data gives zero P and zero Q, so the stripe stays consistent).
        long head = firstFull * stripeBlocks - lba;
        if (head > 0 && !base.ZeroOnce(lba, (int)head))
            return false;
        for (int slot = 0; slot < MemberCount; slot++)
        {
            if (!Writable(slot))
                continue;
            for (long row = firstFull * ChunkBlocks; row < endFull * ChunkBlocks;)
            {
                int n = (int)Math.Min(endFull * ChunkBlocks - row, 1 << 30);
                if (!DriveTrim(slot, row, n))
                    return false;
                row += n;
            }
        }
        long tail = end - endFull * stripeBlocks;
        return tail <= 0 || base.ZeroOnce(endFull * stripeBlocks, (int)tail);
    }

    // ---------------------------------------------------------------- rebuild

    private protected override bool RebuildRow(long row)
    {
        long stripe = row;
        int bs = BlockSize;
        int p = ParitySlot(stripe), q = QSlot(stripe);
        bool needP = RebuildTarget(p, stripe), needQ = q >= 0 && RebuildTarget(q, stripe);
        for (int w0 = 0; w0 < ChunkBlocks; w0 += WindowBlocks)
        {
            int rows = Math.Min(WindowBlocks, ChunkBlocks - w0);
            int len = rows * bs;
            long lba = row * ChunkBlocks + w0;
            if (!ReadDataRows(stripe, lba, rows, out ulong missing) || !Recover(stripe, missing, lba, rows))
                return false;
            Span<byte> pBuf = Scratch(_data)[..len];
            Span<byte> qBuf = Scratch(_data + 1)[..len];
            if (needP || needQ)
                Parity.Compute(ScratchAll, _data, ScratchStride, len, pBuf, needQ ? qBuf : []);
            for (int i = 0; i < _data; i++)
            {
                int slot = DataSlot(stripe, i);
                if (RebuildTarget(slot, stripe) && !DriveWrite(slot, lba, rows, Scratch(i)[..len]))
                    return false;
            }
            if (needP && !DriveWrite(p, lba, rows, pBuf))
                return false;
            if (needQ && !DriveWrite(q, lba, rows, qBuf))
                return false;
        }
        return true;
    }

    // ---------------------------------------------------------------- request → windows

    /// <summary>One window of one stripe: rows [r0, r1) of the stripe's chunks, with the data chunks'
    /// own ranges left in _x0/_x1 by <see cref="Pieces"/>.</summary>
    interface IWindowVisitor
    {
        bool Visit(long stripe, long stripeOffset, int r0, int r1);
    }

    /// <summary>Splits [lba, lba + count) into stripes and each stripe into windows of at most
    /// WindowBlocks rows, visiting the windows the request touches; stops at the first failure. Generic
    /// over a ref struct visitor so the I/O paths allocate nothing.</summary>
    bool ForEachWindow<TVisitor>(long lba, int count, ref TVisitor visitor)
        where TVisitor : IWindowVisitor, allows ref struct
    {
        long stripeBlocks = (long)_data * ChunkBlocks;
        long pos = lba, end = lba + count;
        while (pos < end)
        {
            long stripe = pos / stripeBlocks;
            long start = stripe * stripeBlocks;
            long a = pos - start, b = Math.Min(end, start + stripeBlocks) - start;
            for (int w0 = 0; w0 < ChunkBlocks; w0 += WindowBlocks)
            {
                int w1 = Math.Min(ChunkBlocks, w0 + WindowBlocks);
                if (Pieces(a, b, w0, w1, out int r0, out int r1)
                    && !visitor.Visit(stripe, start - lba, r0, r1))
                    return false;
            }
            pos = start + b;
        }
        return true;
    }

    // ---------------------------------------------------------------- helpers

    /// <summary>
    /// Fills <see cref="_x0"/>/<see cref="_x1"/> with each data chunk's part of the stripe-relative range
    /// [a, b) inside rows [w0, w1), and the hull [r0, r1) of those parts. False if nothing falls in the window.
    /// </summary>
    bool Pieces(long a, long b, int w0, int w1, out int r0, out int r1)
    {
        r0 = int.MaxValue;
        r1 = -1;
        for (int i = 0; i < _data; i++)
        {
            long chunkStart = (long)i * ChunkBlocks;
            long lo = Math.Max(a - chunkStart, w0);
            long hi = Math.Min(b - chunkStart, w1);
            if (lo < hi)
            {
                _x0[i] = (int)lo;
                _x1[i] = (int)hi;
                r0 = Math.Min(r0, (int)lo);
                r1 = Math.Max(r1, (int)hi);
            }
            else
            {
                _x0[i] = -1;
                _x1[i] = -1;
            }
        }
        return r1 > r0;
    }

    /// <summary>Reads <paramref name="rows"/> rows at <paramref name="lba"/> of every readable data chunk into
    /// its scratch buffer; <paramref name="missing"/> flags the data indices that could not be read.</summary>
    bool ReadDataRows(long stripe, long lba, int rows, out ulong missing)
    {
        missing = 0;
        for (int i = 0; i < _data; i++)
        {
            int slot = DataSlot(stripe, i);
            if (!Readable(slot, stripe))
                missing |= 1UL << i;
            else if (!DriveRead(slot, lba, rows, Scratch(i)[..(rows * BlockSize)]))
                return false;
        }
        return true;
    }

    /// <summary>
    /// Reconstructs the data chunks flagged in <paramref name="missing"/> into their scratch buffers from the
    /// other data chunks (already in scratch) and P and/or Q, which this reads as needed.
    /// </summary>
    bool Recover(long stripe, ulong missing, long lba, int rows)
    {
        int lost = BitOperations.PopCount(missing);
        if (lost == 0)
            return true;
        int len = rows * BlockSize;
        int p = ParitySlot(stripe), q = QSlot(stripe);
        bool pRead = Readable(p, stripe), qRead = q >= 0 && Readable(q, stripe);
        Span<byte> pBuf = Scratch(_data)[..len];
        Span<byte> qBuf = Scratch(_data + 1)[..len];
        int x = BitOperations.TrailingZeroCount(missing);
        Span<byte> dx = Scratch(x)[..len];
        if (lost == 1 && pRead)
        {
            // D_x = P ⊕ (XOR of the other data chunks).
            if (!DriveRead(p, lba, rows, pBuf))
                return false;
            Parity.ComputePartial(ScratchAll, _data, ScratchStride, len, missing, dx, []);
            Parity.Xor(pBuf, dx);
            return true;
        }
        if (lost == 1 && qRead)
        {
            // D_x = g^(−x)·(Q ⊕ Q'), Q' the syndrome of the other data chunks.
            if (!DriveRead(q, lba, rows, qBuf))
                return false;
            Parity.ComputePartial(ScratchAll, _data, ScratchStride, len, missing, [], dx);
            Parity.RecoverFromQ(x, qBuf, dx);
            return true;
        }
        if (lost == 2 && pRead && qRead)
        {
            int y = BitOperations.TrailingZeroCount(missing & ~(1UL << x));
            Span<byte> dy = Scratch(y)[..len];
            if (!DriveRead(p, lba, rows, pBuf) || !DriveRead(q, lba, rows, qBuf))
                return false;
            Parity.ComputePartial(ScratchAll, _data, ScratchStride, len, missing, dx, dy);
            Parity.Xor(pBuf, dx);
            Parity.Xor(qBuf, dy);
            Parity.RecoverTwo(x, y, dx, dy);
            return true;
        }
        Log.Unrecoverable(Logger, Name, stripe, lost);
        return false;
    }

    private protected override bool IsRecoverable()
    {
        int absent = 0;
        foreach (MemberSlot slot in Slots)
        {
            if (slot.State != MemberState.InSync)
                absent++;
        }
        return absent <= _parity;
    }
}
