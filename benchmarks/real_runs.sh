#!/usr/bin/env bash
# The real training runs of issue 3, one after another on this 2-core CPU (each resumable:
# rerunning continues from the last checkpoint). Then measure them:
#     .venv/bin/python benchmarks/generative_runs.py --write
# Needs data/celeba64 (stitchtime prepare celeba ...) and makes data/edges2face for pix2pix.
# Usage: benchmarks/real_runs.sh [family ...]   (default: all, in the order below)
set -euo pipefail
cd "$(dirname "$0")/.."
ST=.venv/bin/stitchtime
DATA=data/celeba64
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
COMMON=(--batch-size 64 --sample-every 1000 --ckpt-every 500)
BF16=(--set bf16=true)

run() {  # name family steps extra-args...
    local name=$1 family=$2 steps=$3
    shift 3
    local resume=()
    [ -d "runs/$name/checkpoint" ] && resume=(--resume)
    echo "== $name ($family, $steps steps) $(date +%T)"
    $ST train "$family" --data "$DATA" --steps "$steps" --out "runs/$name" "${COMMON[@]}" "${resume[@]}" "$@"
}

ALL=("$@")
has() { [ ${#ALL[@]} -eq 0 ] || [[ " ${ALL[*]} " == *" $1 "* ]]; }

has gan && run gan64 gan 6000 "${BF16[@]}" --set loss='"hinge"'
# The same GAN with the non-saturating loss, for the hinge vs non-saturating choice (same steps).
has gan_nonsat && run gan64_nonsat gan 6000 "${BF16[@]}" --set loss='"nonsat"'
has cgan && run cgan64 cgan 1500 "${BF16[@]}" --attrs Smiling,Male,Eyeglasses,Blond_Hair --set loss='"hinge"'
# DDPM: a 2.7 M-parameter U-Net on 2x2 pixel patches (64 px images, 32 px U-Net): ~95 img/s here,
# against ~30 img/s for the same widths on plain pixels.
has ddpm && run ddpm64 ddpm 2500 "${BF16[@]}" --attrs Smiling,Male,Eyeglasses,Blond_Hair --batch-size 32 \
    --set patch_size=2 --set base_channels=32 --set 'channel_mults=[1,2,4]' --set layers_per_block=1 \
    --set 'attention_levels=[2]' --set num_groups=8 --set beta_schedule='"cosine"' --set lr=0.0003
# The same U-Net trained to predict v with Min-SNR-5 weights (Salimans & Ho 2022, Hang et al. 2023):
# the x0 it implies is usable at every t, where epsilon-prediction's is poor at high noise.
has ddpm_v && run ddpm64_v ddpm 6000 "${BF16[@]}" --attrs Smiling,Male,Eyeglasses,Blond_Hair --batch-size 32 \
    --set patch_size=2 --set base_channels=32 --set 'channel_mults=[1,2,4]' --set layers_per_block=1 \
    --set 'attention_levels=[2]' --set num_groups=8 --set beta_schedule='"cosine"' --set lr=0.0003 \
    --set prediction_type='"v_prediction"' --set min_snr_gamma=5.0
has cyclegan && run smile_cyclegan cyclegan 5000 --domain Smiling --batch-size 4 "${BF16[@]}" --set ngf=32 --set ndf=32
if has pix2pix; then
    [ -d data/edges2face/test ] || $ST prepare edges "$DATA" -o data/edges2face
    DATA=data/edges2face run edges_p2p pix2pix 1500 --batch-size 16 "${BF16[@]}" --set ngf=32 --set ndf=32
fi
# The shipped editor (issue 4): the shipped cVAE fine-tuned with the attribute loss.
has cvae_attr && run cvae64_attr cvae 2000 --init stitchtime/weights/cvae --lr 0.0001 \
    --set attr_weight=0.3 --set attr_classifier='"stitchtime/weights/classifier"'
# The same fine-tune with AttGAN's adversarial term added (a conditional discriminator judges the
# flipped-attribute decodes), started from the cVAE before any attribute loss.
has cvae_adv && run cvae64_adv cvae 3000 --init runs/cvae64 --lr 0.0001 "${BF16[@]}" \
    --set attr_weight=0.3 --set attr_classifier='"stitchtime/weights/classifier"' --set adv_weight=0.05
# The adversary judging against the model's own reconstructions instead of the training faces
# (so blur is no cue: it looks for classifier-fooling patterns), from the same start.
has cvae_advrec && run cvae64_advrec cvae 2000 --init runs/cvae64 --lr 0.0001 "${BF16[@]}" \
    --set attr_weight=0.3 --set attr_classifier='"stitchtime/weights/classifier"' --set adv_weight=0.1 \
    --set adv_real='"reconstruction"'
# The attribute fine-tune with the classifier shown augmented decodes (expectation over
# transformations), from the same start, against classifier-fooling patterns.
has cvae_aug && run cvae64_aug cvae 2000 --init runs/cvae64 --lr 0.0001 "${BF16[@]}" \
    --set attr_weight=0.3 --set attr_classifier='"stitchtime/weights/classifier"' --set attr_augment=true
# Fader-style: the same fine-tune plus a latent adversary, so the latent stops carrying the attributes.
has cvae_fader && run cvae64_fader cvae 3000 --init runs/cvae64 --lr 0.0001 "${BF16[@]}" \
    --set attr_weight=0.3 --set attr_classifier='"stitchtime/weights/classifier"' --set latent_adv_weight=0.1 --set latent_disc_lr=0.001
# A second attribute classifier (other seed, wider) that judges edits without having guided them.
has judge && run attrclf64_judge classifier 800 --seed 1 --set 'channels=[48,96,192,256]' \
    --attrs 5_o_Clock_Shadow,Arched_Eyebrows,Attractive,Bags_Under_Eyes,Bald,Bangs,Big_Lips,Big_Nose,Black_Hair,Blond_Hair,Blurry,Brown_Hair,Bushy_Eyebrows,Chubby,Double_Chin,Eyeglasses,Goatee,Gray_Hair,Heavy_Makeup,High_Cheekbones,Male,Mouth_Slightly_Open,Mustache,Narrow_Eyes,No_Beard,Oval_Face,Pale_Skin,Pointy_Nose,Receding_Hairline,Rosy_Cheeks,Sideburns,Smiling,Straight_Hair,Wavy_Hair,Wearing_Earrings,Wearing_Hat,Wearing_Lipstick,Wearing_Necklace,Wearing_Necktie,Young
# AE and VAE at the shipped cVAE's widths, so the three reconstructions compare like for like.
SMALL=(--set 'channels=[16,32,64,128]')
has ae && run ae64 ae 1500 "${SMALL[@]}"
has vae && run vae64 vae 1500 "${BF16[@]}" "${SMALL[@]}"
# The DDPM editor (issue 4): the ddpm_v recipe conditioned on the cVAE's 16 attributes; the
# pipeline edits by DDIM inversion with it (method "diffusion").
has ddpm_edit && run ddpm64_edit ddpm 6000 "${BF16[@]}" --attrs Smiling,Young,Male,Eyeglasses,Blond_Hair,Black_Hair,Brown_Hair,Gray_Hair,Bangs,No_Beard,Mustache,Mouth_Slightly_Open,Heavy_Makeup,Wearing_Lipstick,Bald,Pale_Skin --batch-size 32 \
    --set patch_size=2 --set base_channels=32 --set 'channel_mults=[1,2,4]' --set layers_per_block=1 \
    --set 'attention_levels=[2]' --set num_groups=8 --set beta_schedule='"cosine"' --set lr=0.0003 \
    --set prediction_type='"v_prediction"' --set min_snr_gamma=5.0 --sample-every 1000 --ckpt-every 250
echo "== done $(date +%T)"
