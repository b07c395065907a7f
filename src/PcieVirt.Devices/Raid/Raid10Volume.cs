using Microsoft.Extensions.Logging;
using PcieVirt.Devices.Media;

namespace PcieVirt.Devices.Raid;

/// <summary>
/// RAID 10 in Linux md's "near" layout with two copies (n2): the device chunks are numbered row by row
/// across the slots (device chunk d is slot d mod N, row d div N), and volume chunk k occupies device
/// chunks 2k and 2k + 1. With an even N this is the classic stripe of mirrored pairs (slots 0–1, 2–3, …);
/// with an odd N the copies wrap around (N = 3: row 0 holds A A B, row 1 holds B C C). The volume survives
/// any set of losses that leaves one copy of every chunk.
/// </summary>
public sealed class Raid10Volume : RaidVolume
{
    /// <summary>Copies of each chunk.</summary>
    public const int Copies = 2;

    internal Raid10Volume(int id, string name, IReadOnlyList<PhysicalDrive> drives, int chunkBlocks, ILogger logger)
        : base(id, name, RaidLevel.Raid10, drives, chunkBlocks, Capacity(drives, chunkBlocks), 1, logger)
    {
    }

    /// <summary>Volume size in blocks: ⌊rows × N / 2⌋ chunks of C blocks.</summary>
    public static long Capacity(IReadOnlyList<PhysicalDrive> drives, int chunkBlocks) =>
        drives.Min(d => d.BlockCount) / chunkBlocks * drives.Count / Copies * chunkBlocks;

    long ChunkCount => BlockCount / ChunkBlocks;

    public override int FaultTolerance => 1;

    public override RaidLocation Locate(long lba, int copy = 0)
    {
        long chunk = lba / ChunkBlocks;
        long device = chunk * Copies + copy;
        return new RaidLocation((int)(device % MemberCount), device / MemberCount * ChunkBlocks + lba % ChunkBlocks);
    }

    private protected override bool ReadOnce(long lba, int count, Span<byte> destination)
    {
        var walk = new PieceWalk(lba, count, ChunkBlocks);
        while (walk.MoveNext())
        {
            long at = walk.Lba;
            // Alternate the preferred copy chunk by chunk so sequential reads use both mirrors.
            int preferred = (int)(walk.Unit & 1);
            RaidLocation where = default;
            bool found = false;
            for (int k = 0; k < Copies && !found; k++)
            {
                RaidLocation candidate = Locate(at, (preferred + k) % Copies);
                if (Readable(candidate.Slot, candidate.DriveLba / ChunkBlocks))
                {
                    where = candidate;
                    found = true;
                }
            }
            if (!found)
                return false; // unreachable while the volume is not failed
            if (!DriveRead(where.Slot, where.DriveLba, walk.Length, destination.Slice(walk.Done * BlockSize, walk.Length * BlockSize)))
                return false;
        }
        return true;
    }

    private protected override bool WriteOnce(long lba, int count, ReadOnlySpan<byte> source) =>
        WriteCopies(lba, count, source, zero: false);

    private protected override bool ZeroOnce(long lba, int count) =>
        WriteCopies(lba, count, default, zero: true);

    /// <summary>Writes (or trims, when <paramref name="zero"/>) every writable copy of each chunk piece.</summary>
    bool WriteCopies(long lba, int count, ReadOnlySpan<byte> source, bool zero)
    {
        var walk = new PieceWalk(lba, count, ChunkBlocks);
        while (walk.MoveNext())
        {
            int n = walk.Length;
            for (int copy = 0; copy < Copies; copy++)
            {
                RaidLocation where = Locate(walk.Lba, copy);
                if (!Writable(where.Slot))
                    continue;
                bool ok = zero
                    ? DriveTrim(where.Slot, where.DriveLba, n)
                    : DriveWrite(where.Slot, where.DriveLba, n, source.Slice(walk.Done * BlockSize, n * BlockSize));
                if (!ok)
                    return false;
            }
        }
        return true;
    }

    private protected override bool RebuildRow(long row)
    {
        Span<byte> buffer = Scratch(0);
        for (int slot = 0; slot < MemberCount; slot++)
        {
            if (!RebuildTarget(slot, row))
                continue;
            long device = row * MemberCount + slot;
            if (device / Copies >= ChunkCount)
                continue; // tail of the last row past the volume (odd N): nothing to copy
            long partner = device ^ 1; // the other copy of the same chunk (copies are adjacent device chunks)
            int partnerSlot = (int)(partner % MemberCount);
            long partnerRow = partner / MemberCount;
            if (!Readable(partnerSlot, partnerRow))
                return false;
            for (int offset = 0; offset < ChunkBlocks; offset += WindowBlocks)
            {
                int n = Math.Min(WindowBlocks, ChunkBlocks - offset);
                Span<byte> data = buffer[..(n * BlockSize)];
                if (!DriveRead(partnerSlot, partnerRow * ChunkBlocks + offset, n, data)
                    || !DriveWrite(slot, row * ChunkBlocks + offset, n, data))
                    return false;
            }
        }
        return true;
    }

    private protected override bool IsRecoverable()
    {
        // Copies of a chunk sit on slots (d mod N, d + 1 mod N) for even d. With N even those are the
        // fixed pairs (0,1), (2,3), …; with N odd every adjacent pair, including (N − 1, 0), occurs.
        int n = MemberCount;
        for (int slot = 0; slot < n; slot++)
        {
            if (n % 2 == 0 && slot % 2 == 1)
                continue;
            int next = (slot + 1) % n;
            if (Slots[slot].State != MemberState.InSync && Slots[next].State != MemberState.InSync)
                return false;
        }
        return true;
    }
}
