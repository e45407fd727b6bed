"""Field names, per kind of personal data and per language, for the held-out corpus.

Written from general knowledge of how APIs name their fields (and of the languages), not from the
detectors. Each list is split in two by position: even entries feed the ``dev`` split, odd entries
the ``untouched`` split, so the untouched split's keys are words the detectors were never tuned on.
A language with a single usual word keeps it in both (noted by a one-entry list).
Phrases are natural text ("fecha de nacimiento"); ``keys.py`` turns them into keys.
"""

from __future__ import annotations

VOCAB: dict[str, dict[str, list[str]]] = {
    "email": {
        "en": ["email", "email address", "e-mail", "contact email", "user email", "mail", "billing email"],
        "es": ["correo", "correo electrónico", "email contacto", "correo electronico usuario"],
        "de": ["e-mail adresse", "email adresse", "mailadresse", "kontakt email"],
        "fr": ["courriel", "adresse email", "adresse électronique", "mel"],
        "it": ["posta elettronica", "indirizzo email", "email utente", "indirizzo posta"],
        "pt": ["email", "endereço de email", "correio eletrônico", "email contato"],
        "nl": ["e-mailadres", "email adres", "mailadres", "emailadres klant"],
        "pl": ["adres email", "poczta", "adres e-mail", "email kontaktowy"],
    },
    "phone": {
        "en": ["phone", "mobile", "phone number", "telephone", "cell phone", "contact phone", "msisdn", "mobile number"],
        "es": ["teléfono", "móvil", "celular", "telefono movil", "numero de telefono", "tel contacto"],
        "de": ["telefon", "handy", "telefonnummer", "mobilnummer", "handynummer", "rufnummer"],
        "fr": ["téléphone", "portable", "numéro de téléphone", "tel mobile", "numero portable"],
        "it": ["telefono", "cellulare", "numero di telefono", "recapito telefonico"],
        "pt": ["telefone", "celular", "número de telefone", "telemóvel", "fone"],
        "nl": ["telefoon", "mobiel", "telefoonnummer", "mobiel nummer", "gsm"],
        "pl": ["telefon", "komórka", "numer telefonu", "telefon komórkowy", "nr tel"],
    },
    "person_name": {
        "en": ["full name", "first name", "last name", "surname", "given name", "family name", "customer name", "holder name", "contact name", "display name"],
        "es": ["nombre", "apellido", "nombre completo", "apellidos", "primer apellido", "nombre del titular", "segundo apellido"],
        "de": ["vorname", "nachname", "vollständiger name", "familienname", "name des kunden", "zuname"],
        "fr": ["prénom", "nom de famille", "nom complet", "nom du titulaire", "nom de naissance", "prenom client"],
        "it": ["nome", "cognome", "nome completo", "nominativo", "nome e cognome", "cognome cliente"],
        "pt": ["nome", "sobrenome", "nome completo", "apelido", "nome do titular", "primeiro nome"],
        "nl": ["voornaam", "achternaam", "volledige naam", "naam klant", "familienaam", "roepnaam"],
        "pl": ["imię", "nazwisko", "imię i nazwisko", "pełne imię", "nazwisko klienta", "imie"],
    },
    "birth_date": {
        "en": ["date of birth", "birth date", "dob", "birthday", "born on", "birthdate"],
        "es": ["fecha de nacimiento", "fecha nacimiento", "nacimiento", "fec nac"],
        "de": ["geburtsdatum", "geburtstag", "geb datum", "datum der geburt"],
        "fr": ["date de naissance", "naissance", "date naissance", "né le"],
        "it": ["data di nascita", "data nascita", "nascita", "nato il"],
        "pt": ["data de nascimento", "data nascimento", "nascimento", "dt nascimento"],
        "nl": ["geboortedatum", "geboren op", "geboortedag", "datum geboorte"],
        "pl": ["data urodzenia", "urodziny", "data ur", "dzień urodzenia"],
    },
    "gender": {
        "en": ["gender", "sex", "gender identity"],
        "es": ["género", "sexo", "genero"],
        "de": ["geschlecht", "anrede geschlecht"],
        "fr": ["sexe", "genre"],
        "it": ["sesso", "genere"],
        "pt": ["sexo", "gênero", "genero"],
        "nl": ["geslacht", "sekse"],
        "pl": ["płeć", "plec"],
    },
    "address": {
        "en": ["street address", "address line 1", "street", "address", "billing address", "home address"],
        "es": ["dirección", "calle", "domicilio", "direccion postal"],
        "de": ["straße", "anschrift", "adresse", "strasse und hausnummer"],
        "fr": ["adresse", "rue", "adresse postale", "domicile"],
        "it": ["indirizzo", "via", "indirizzo di residenza", "residenza"],
        "pt": ["endereço", "logradouro", "morada", "rua"],
        "nl": ["adres", "straat", "straatnaam", "woonadres"],
        "pl": ["adres", "ulica", "adres zamieszkania", "adres korespondencyjny"],
    },
    "password": {
        "en": ["password", "passwd", "new password", "pwd", "current password", "pass", "old password"],
        "es": ["contraseña", "clave", "contrasena", "clave de acceso"],
        "de": ["passwort", "kennwort", "neues passwort", "zugangspasswort"],
        "fr": ["mot de passe", "mdp", "nouveau mot de passe", "motdepasse"],
        "it": ["password utente", "parola d'ordine", "nuova password", "chiave di accesso"],
        "pt": ["senha", "palavra-passe", "nova senha", "senha de acesso"],
        "nl": ["wachtwoord", "nieuw wachtwoord", "paswoord", "wachtwoord bevestiging"],
        "pl": ["hasło", "haslo", "nowe hasło", "hasło użytkownika"],
    },
    "passport": {
        "en": ["passport number", "passport", "passport no", "travel document number"],
        "es": ["número de pasaporte", "pasaporte", "num pasaporte"],
        "de": ["reisepassnummer", "passnummer", "reisepass"],
        "fr": ["numéro de passeport", "passeport", "no passeport"],
        "it": ["numero passaporto", "passaporto", "numero del passaporto"],
        "pt": ["número do passaporte", "passaporte", "num passaporte"],
        "nl": ["paspoortnummer", "paspoort", "nummer paspoort"],
        "pl": ["numer paszportu", "paszport", "nr paszportu"],
    },
    "username": {
        "en": ["username", "user name", "login", "handle", "screen name", "user id name"],
        "es": ["usuario", "nombre de usuario", "nombre usuario"],
        "de": ["benutzername", "benutzer", "anmeldename"],
        "fr": ["nom d'utilisateur", "identifiant", "pseudo"],
        "it": ["nome utente", "utente"],
        "pt": ["nome de usuário", "usuário", "utilizador"],
        "nl": ["gebruikersnaam", "gebruiker"],
        "pl": ["nazwa użytkownika", "login użytkownika", "użytkownik"],
    },
    "ip": {
        "en": ["ip", "ip address", "client ip", "remote addr", "source ip", "last login ip", "user ip"],
        "es": ["dirección ip", "ip cliente", "ip origen"],
        "de": ["ip adresse", "client ip adresse"],
        "fr": ["adresse ip", "ip client"],
        "it": ["indirizzo ip", "ip utente"],
        "pt": ["endereço ip", "ip do cliente"],
        "nl": ["ip adres", "ip klant"],
        "pl": ["adres ip", "ip klienta"],
    },
    "mac": {
        "en": ["mac", "mac address", "hw addr", "hardware address", "device mac", "bssid"],
        "es": ["dirección mac", "mac dispositivo"],
        "de": ["mac adresse", "hardware adresse"],
        "fr": ["adresse mac", "mac appareil"],
        "it": ["indirizzo mac", "mac dispositivo"],
        "pt": ["endereço mac", "mac do dispositivo"],
        "nl": ["mac adres", "mac apparaat"],
        "pl": ["adres mac", "mac urządzenia"],
    },
    "card": {
        "en": ["card number", "pan", "credit card", "cc number", "card no", "account number card"],
        "es": ["número de tarjeta", "tarjeta", "num tarjeta credito"],
        "de": ["kartennummer", "kreditkartennummer", "karte nummer"],
        "fr": ["numéro de carte", "carte bancaire", "numero carte credit"],
        "it": ["numero carta", "carta di credito", "numero della carta"],
        "pt": ["número do cartão", "cartão de crédito", "numero cartao"],
        "nl": ["kaartnummer", "creditcardnummer"],
        "pl": ["numer karty", "karta kredytowa"],
    },
    "iban": {
        "en": ["iban", "bank account", "account iban", "payout iban"],
        "es": ["cuenta bancaria", "iban cuenta", "número de cuenta"],
        "de": ["bankverbindung iban", "kontonummer", "iban konto"],
        "fr": ["compte bancaire", "rib iban", "numéro de compte"],
        "it": ["conto corrente", "iban conto", "coordinate bancarie"],
        "pt": ["conta bancária", "iban conta", "número da conta"],
        "nl": ["rekeningnummer", "bankrekening", "iban nummer"],
        "pl": ["numer rachunku", "konto bankowe", "nr konta"],
    },
    "national_id": {
        "en": ["national id", "ssn", "social security number", "national insurance number", "id number", "citizen id"],
        "es": ["dni", "documento de identidad", "número de documento", "cédula", "curp"],
        "de": ["ausweisnummer", "personalausweis", "sozialversicherungsnummer", "ahv nummer"],
        "fr": ["numéro de sécurité sociale", "numero securite sociale", "nir", "numéro avs"],
        "it": ["codice fiscale", "cf", "codice fiscale cliente"],
        "pt": ["rg", "documento", "número de identificação", "cartão de cidadão"],
        "nl": ["bsn", "burgerservicenummer", "rijksregisternummer", "sofinummer"],
        "pl": ["pesel", "numer pesel", "nr dowodu"],
    },
    "tax_id": {
        "en": ["tax id", "tin", "tax number", "pan number", "tax file number", "taxpayer id"],
        "es": ["nif", "número fiscal", "rfc", "identificación fiscal"],
        "de": ["steuer id", "steuernummer", "steueridentifikationsnummer", "steuerliche id"],
        "fr": ["numéro fiscal", "numero fiscal", "identifiant fiscal"],
        "it": ["partita iva", "numero fiscale"],
        "pt": ["cpf", "nif", "número de contribuinte", "cpf do cliente"],
        "nl": ["fiscaal nummer", "btw nummer", "fiscaal id"],
        "pl": ["nip", "numer nip", "numer identyfikacji podatkowej"],
    },
    "pension": {
        "en": ["pension number", "pension id", "pension scheme member number"],
        "es": ["número de afiliación", "numero seguridad social pension"],
        "de": ["rentenversicherungsnummer", "rentennummer"],
        "fr": ["numéro de retraite", "numero pension"],
        "it": ["numero pensione", "posizione previdenziale"],
        "pt": ["número de pensão", "nit pis"],
        "nl": ["pensioennummer", "pensioen id"],
        "pl": ["numer emerytury", "nr emerytalny"],
    },
}

# Keys naming a credential, by language (values: Bearer/Basic strings, JWTs, opaque tokens, API keys).
CREDENTIAL_KEYS: dict[str, list[str]] = {
    "en": ["authorization", "access token", "refresh token", "api key", "session token", "auth", "secret", "client secret", "token", "id token", "bearer"],
    "es": ["token de acceso", "clave api", "token sesion", "autorizacion"],
    "de": ["zugangstoken", "api schlüssel", "sitzungstoken", "autorisierung"],
    "fr": ["jeton", "jeton d'accès", "clé api", "jeton de session"],
    "it": ["token di accesso", "chiave api", "gettone"],
    "pt": ["token de acesso", "chave api", "token de sessão"],
    "nl": ["toegangstoken", "api sleutel", "sessietoken"],
    "pl": ["token dostępu", "klucz api", "token sesji"],
}

# Free-text fields: descriptions, notes, messages.
TEXT_KEYS: dict[str, list[str]] = {
    "en": ["description", "comment", "message", "notes", "body", "remarks", "details", "text"],
    "es": ["descripción", "comentario", "mensaje", "observaciones"],
    "de": ["beschreibung", "kommentar", "nachricht", "bemerkung"],
    "fr": ["description", "commentaire", "message", "remarques"],
    "it": ["descrizione", "commento", "messaggio", "note"],
    "pt": ["descrição", "comentário", "mensagem", "observações"],
    "nl": ["omschrijving", "opmerking", "bericht", "toelichting"],
    "pl": ["opis", "komentarz", "wiadomość", "uwagi"],
}

# The word for the type of document inside typed documents ({"type": <word>, "number": ...}).
DOC_TYPE_WORDS: dict[str, dict[str, list[str]]] = {
    "passport": {"en": ["passport", "PASSPORT"], "es": ["pasaporte", "PASAPORTE"], "de": ["reisepass", "Reisepass"],
                 "fr": ["passeport"], "it": ["passaporto"], "pt": ["passaporte"], "nl": ["paspoort"], "pl": ["paszport"]},
    "national_id": {"en": ["national_id", "ID_CARD", "ssn"], "es": ["dni", "DNI", "cedula"], "de": ["personalausweis", "ausweis"],
                    "fr": ["carte_identite", "cni"], "it": ["carta_identita", "codice_fiscale"], "pt": ["rg", "cartao_cidadao"],
                    "nl": ["bsn", "identiteitskaart"], "pl": ["pesel", "dowod_osobisty"]},
    "tax_id": {"en": ["tax_id", "TIN", "pan"], "es": ["nif", "rfc"], "de": ["steuer_id"], "fr": ["numero_fiscal"],
               "it": ["partita_iva"], "pt": ["cpf", "CPF", "nif"], "nl": ["fiscaal_nummer"], "pl": ["nip", "NIP"]},
    "driver_license": {"en": ["drivers_license", "DRIVER_LICENSE"], "es": ["licencia_conducir", "carnet_conducir"],
                       "de": ["fuehrerschein"], "fr": ["permis_de_conduire"], "it": ["patente"], "pt": ["cnh"],
                       "nl": ["rijbewijs"], "pl": ["prawo_jazdy"]},
}

# Neutral field names (never personal data) for padding and near-misses.
NEUTRAL_KEYS = ["id", "status", "created_at", "updated_at", "amount", "currency", "sku", "quantity", "page",
                "per_page", "total", "locale", "country", "city", "zip", "version", "firmware_version",
                "build", "order_id", "tracking_number", "reference", "estado", "cantidad", "importe",
                "menge", "betrag", "montant", "quantité", "importo", "quantidade", "valor", "hoeveelheid",
                "bedrag", "kwota", "ilość", "image", "avatar_url", "icon", "hash", "checksum", "color",
                "lat", "lng", "priority", "category", "tags", "plan", "region"]


def split_words(words: list[str], split: str) -> list[str]:
    """Even positions for ``dev``, odd for ``untouched``; a one-word list is shared."""
    if len(words) == 1:
        return words
    return words[0::2] if split == "dev" else words[1::2]
